// Type-checked by .ci/pack_test.sh against the installed .d.ts files (not
// run): the published types resolve and describe the API.
import { type AtomicOptions, openAtomic, writeFileAtomic } from "@x/atomic";
import writeFileAtomicCompat, {
  type WriteFileAtomicOptions,
} from "@x/atomic/compat/write-file-atomic";
import {
  type Encoding,
  readFileSync,
  writeFileSync,
  type WriteOptions,
} from "@x/atomic/compat/atomically";
import { Writer } from "@x/atomic/compat/steno";

const options: AtomicOptions = { mode: 0o600, encoding: "utf8" };
const wfa: WriteFileAtomicOptions = { chown: false, tmpfileCreated: () => {} };
const conf: WriteOptions = { mode: 0o666, fsyncWait: false };
export async function use(file: string): Promise<string> {
  await writeFileAtomic(file, new DataView(new ArrayBuffer(1)), options);
  await writeFileAtomicCompat(file, "x", wfa);
  writeFileAtomicCompat.sync(file, "x", "utf8");
  await new Writer(file).write("x");
  const encoding: Encoding = "utf8";
  const text: string = readFileSync(file, encoding);
  // atomically takes no ArrayBuffer, and neither does its entry point here.
  // @ts-expect-error: an ArrayBuffer is not Data.
  writeFileSync(file, new ArrayBuffer(1));
  // What `write()` takes, the writable takes: strings too.
  await openAtomic(file, (f) => ReadableStream.from(["a"]).pipeTo(f.writable));
  void conf;
  return text;
}
