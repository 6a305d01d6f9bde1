/**
 * Admin API jobs for large accounts (issue 22): start an export or import
 * (lifecycle/transfer.ts) and watch its progress. Paths are on the serving
 * process's filesystem (a volume mounted for the purpose). A job runs in the
 * process that accepted it; if that process goes away, starting the same job
 * again resumes it (exports resume, imports skip what is already there).
 *
 *   POST /api/v1/jobs/export  {address, path, format: "mbox"|"maildir", mailbox?}  → 202 job
 *   POST /api/v1/jobs/import  {address, path, mailbox?}                            → 202 job
 *   GET  /api/v1/jobs                                                              → {jobs}
 *   GET  /api/v1/jobs/:id                                                          → job
 */
import { randomUUID } from "node:crypto";
import type { Runtime } from "@aerogram/runtime";
import { z } from "zod";
import type { RouteEntry } from "./admin-api.ts";
import { HttpError, readJsonBody } from "./http-json.ts";
import { exportMail, importMail, type Progress } from "./lifecycle/transfer.ts";

export interface JobView {
  id: string;
  kind: "import" | "export";
  address: string;
  path: string;
  state: "running" | "done" | "failed";
  startedAt: string;
  finishedAt?: string;
  progress?: Progress;
  summary?: unknown;
  error?: string;
}

const base = { address: z.string().trim().min(3).max(320), path: z.string().min(1).max(4096) };
const schemas = {
  export: z.strictObject({
    ...base,
    format: z.enum(["mbox", "maildir"]),
    mailbox: z.string().min(1).optional(),
  }),
  import: z.strictObject({ ...base, mailbox: z.string().min(1).optional() }),
};

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new HttpError(400, `${first?.path.join(".") || "body"}: ${first?.message ?? "invalid"}`);
  }
  return r.data;
}

/** The job routes, over one runtime (blob store and store); finished jobs are kept for `keep` entries. */
export function lifecycleJobRoutes(
  rt: Pick<Runtime, "store" | "blobs" | "events" | "config">,
  keep = 100,
): RouteEntry[] {
  const jobs = new Map<string, JobView>();
  const start = (job: JobView, work: (onProgress: (p: Progress) => void) => Promise<unknown>) => {
    jobs.set(job.id, job);
    while (jobs.size > keep) {
      const oldest = [...jobs.values()].find((j) => j.state !== "running");
      if (!oldest) break;
      jobs.delete(oldest.id);
    }
    work((p) => {
      job.progress = p;
    }).then(
      (summary) => {
        job.state = "done";
        job.summary = summary;
        job.finishedAt = new Date().toISOString();
      },
      (err: unknown) => {
        job.state = "failed";
        job.error = (err as Error).message;
        job.finishedAt = new Date().toISOString();
      },
    );
    return job;
  };
  const deps = { store: rt.store, blobs: rt.blobs, events: rt.events };
  const newJob = (kind: JobView["kind"], address: string, path: string): JobView => ({
    id: randomUUID(),
    kind,
    address,
    path,
    state: "running",
    startedAt: new Date().toISOString(),
  });
  return [
    [
      "POST",
      /^\/jobs\/export$/,
      async (req) => {
        const b = parse(schemas.export, await readJsonBody(req));
        const job = newJob("export", b.address, b.path);
        return [
          202,
          start(job, (onProgress) =>
            exportMail(deps, b.address, b.path, {
              format: b.format,
              ...(b.mailbox ? { mailbox: b.mailbox } : {}),
              onProgress,
            }),
          ),
        ];
      },
    ],
    [
      "POST",
      /^\/jobs\/import$/,
      async (req) => {
        const b = parse(schemas.import, await readJsonBody(req));
        const job = newJob("import", b.address, b.path);
        return [
          202,
          start(job, (onProgress) =>
            importMail(deps, b.address, b.path, {
              maxBytes: rt.config.protocolLimits.smtp.maxMessageBytes,
              ...(b.mailbox ? { mailbox: b.mailbox } : {}),
              onProgress,
            }),
          ),
        ];
      },
    ],
    ["GET", /^\/jobs$/, async () => [200, { jobs: [...jobs.values()] }]],
    [
      "GET",
      /^\/jobs\/([^/]+)$/,
      async (_, [id]) => {
        const job = jobs.get(id as string);
        if (!job) throw new HttpError(404, "no such job");
        return [200, job];
      },
    ],
  ];
}
