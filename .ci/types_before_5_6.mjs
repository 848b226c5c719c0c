// Run by `npm run build`, after tsc: the write-file-atomic entry point's
// declarations for TypeScript before 5.6, which cannot parse a string as an
// export's name (`export { writeFileAtomic as "module.exports" }`: what a
// CommonJS `require()` of the entry point returns, on Node 22.12 and later).
// package.json's `types@<5.6` condition leads those versions here; they see
// the module's named and default exports, as `import` does.
import fs from "node:fs";

const dir = "dist/src/compat";
const line = 'export { writeFileAtomic as "module.exports" };\n';
const text = fs.readFileSync(`${dir}/write_file_atomic.d.ts`, "utf8");
if (!text.includes(line)) {
  throw new Error(`${dir}/write_file_atomic.d.ts no longer has: ${line}`);
}
fs.writeFileSync(
  `${dir}/write_file_atomic.pre_5_6.d.ts`,
  text.replace(line, ""),
);
