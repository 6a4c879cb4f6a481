// Type-checked by `tsc --noEmit --strict -p tests/pkg` (make test-pkg): the
// generated .d.ts must describe the real shapes, so a wrong type fails the
// build. Never run, only checked.
import { Tollgate, sniffType, timeZoneData, type Prepared, type TimeZoneData } from "../../pkg/tollgate.js";
// The conformance helper is in the test build only (target/pkg-test/).
import { replayCase } from "../../target/pkg-test/node/tollgate.js";
import type {
  Action, CheckFilesResult, Code, Config, Decision, FileLike, LimitState, Sniffed, Snapshot, Status,
  Subscription, Violation, TollgateError,
} from "../../pkg/tollgate.js";
import initWeb, { Tollgate as WebTollgate } from "../../pkg/web/tollgate.js";

const config: Config = {
  timezone: "Asia/Tehran",
  models: [{ id: "openai/gpt-4o-mini", free: false, input_usd_per_mtok: 0.15 }],
  plans: [{ id: "basic", models: ["*"], limits: [{ metric: "tokens", window: "1h", max: 20000 }] }],
};
const tg = new Tollgate(config);
const sub: Subscription = { id: "s1", plan: "basic", active: true, starts_at: 0, ends_at: null };
const snapshot: Snapshot = Tollgate.emptySnapshot(sub);

const action: Action = { type: "message", model: "openai/gpt-4o-mini", input_tokens: 10, max_output_tokens: 20 };
const decision: Decision = tg.check(snapshot, sub, action, Date.now(), { explain: true, locale: "en" });
const allowed: boolean = decision.allowed;
const code: Code = decision.code;
const retry: number | null = decision.retry_after_s;
const first: Violation | undefined = decision.violations[0];
const window: string | undefined = first?.window;
const limits: LimitState[] = decision.limits;

const status: Status = tg.status(snapshot, sub, Date.now());
const remaining: number = status.limits[0].remaining;
const resets: string | null = status.limits[0].resets_at;

async function upload(files: File[]): Promise<boolean> {
  const like: FileLike[] = [...files, { name: "a.txt", size: 3, head: new Uint8Array([104, 105]) }];
  const r: CheckFilesResult = await tg.checkFiles(snapshot, sub, "chat-1", like, Date.now());
  return r.allowed && r.files.every((f) => f.decision.allowed);
}

const sniffed: Sniffed | null = sniffType(new Uint8Array([0x89, 0x50]));
const ext: string | undefined = sniffed?.ext;

try {
  new Tollgate({ plans: [] });
} catch (e) {
  const problems = (e as TollgateError).problems.map((p) => `${p.path}: ${p.reason}`);
}

const replayed = replayCase(config, { at: "2026-11-23T18:00:00Z", action });

// A snapshot read once, re-checked without reading it again.
const prepared: Prepared = new Tollgate(config).prepare(null, null);
const again: Decision = prepared.check(action, Date.now(), { explain: true });
const meters: Status = prepared.status(Date.now());
const zones: TimeZoneData = timeZoneData();
const tzdata: string = zones.tzdata;

async function web(): Promise<Decision> {
  await initWeb();
  return new WebTollgate(config).check(null, null, { type: "image", count: 2 }, Date.now());
}

// ---- each line below must fail to type-check ------------------------------
// @ts-expect-error check() returns a Decision, not a string
const wrong: string = tg.check(snapshot, sub, action, Date.now());
// @ts-expect-error an action's type is one of SPEC §3's
tg.check(snapshot, sub, { type: "teleport" }, Date.now());
// @ts-expect-error a message needs its token estimates
tg.check(snapshot, sub, { type: "message", model: "m" }, Date.now());
// @ts-expect-error codes are the stable strings of SPEC §4
const badCode: Code = "quota_exceeded";
// @ts-expect-error locale is "fa" or "en"
tg.check(snapshot, sub, action, Date.now(), { locale: "de" });
// @ts-expect-error checkFiles returns a Promise
const notAwaited: CheckFilesResult = tg.checkFiles(snapshot, sub, "c", [], Date.now());
// @ts-expect-error a limit's metric is one of SPEC §1's
const badLimit: LimitState = { ...status.limits[0], metric: "dollars" };

export { allowed, code, retry, window, limits, remaining, resets, upload, ext, replayed, web, wrong, badCode, notAwaited, badLimit, again, meters, tzdata };
