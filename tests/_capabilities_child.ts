/**
 * Run by `capabilities_test.ts` in a process without `CAP_FOWNER`:
 * `_capabilities_child.ts API TARGET` replaces TARGET's content with "new"
 * (API `async`: writeFileAtomic; `sync`: writeFileAtomicSync; `update`:
 * updateFileAtomic, which appends " updated" to what it reads), and prints
 * "ok", or the failure as JSON (`code`, `operation`, `message`).
 */
import process from "node:process";
import {
  type AtomicWriteError,
  updateFileAtomic,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../mod.ts";

const [api, target] = process.argv.slice(2);
const writes: Record<string, () => unknown> = {
  async: () => writeFileAtomic(target, "new"),
  sync: () => writeFileAtomicSync(target, "new"),
  update: () =>
    updateFileAtomic(
      target,
      (old) => `${new TextDecoder().decode(old ?? undefined)} updated`,
    ),
};
try {
  await writes[api]();
  console.log("ok");
} catch (error) {
  const { code, operation, message } = error as AtomicWriteError;
  console.log(JSON.stringify({ code, operation, message }));
}
