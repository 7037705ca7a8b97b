import { describe, expect, it } from "vitest";
import { mock, type Evaluation } from "../structs/index.js";
import { EvalBroker } from "./broker.js";

function ev(job: string, priority = 50, createIndex = 1): Evaluation {
  return mock.evaluation({ ...mock.job({ id: job }), Priority: priority }, { CreateIndex: createIndex });
}

describe("the evaluation broker", () => {
  it("hands out the highest priority first, oldest first within a priority", async () => {
    const b = new EvalBroker();
    const low = ev("a", 10);
    const high = ev("b", 90);
    const mid1 = ev("c", 50);
    const mid2 = ev("d", 50);
    for (const e of [low, mid1, high, mid2]) b.enqueue(e);
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const got = await b.dequeue();
      order.push(got!.ev.JobID);
      b.ack(got!.ev.ID, got!.token);
    }
    expect(order).toEqual(["b", "c", "d", "a"]);
  });

  it("keeps one evaluation of a job out at a time; the newest waiting one speaks for the others", async () => {
    const b = new EvalBroker();
    const first = ev("j", 50, 1);
    b.enqueue(first);
    const out = await b.dequeue();
    b.enqueue(ev("j", 50, 2));
    const newest = ev("j", 50, 3);
    b.enqueue(newest);
    expect(b.stats).toMatchObject({ ready: 0, blocked: 2, unacked: 1 });
    b.ack(out!.ev.ID, out!.token);
    const next = await b.dequeue();
    expect(next!.ev.ID).toBe(newest.ID);
    expect(b.superseded.map((e) => e.CreateIndex)).toEqual([2]);
  });

  it("offers a nacked evaluation again after a delay, and gives up past the delivery limit", async () => {
    const failed: string[] = [];
    const b = new EvalBroker({ deliveryLimit: 2, nackDelayMs: 20 });
    b.onFailed = (e) => failed.push(e.ID);
    const e = ev("n");
    b.enqueue(e);
    const one = await b.dequeue();
    b.nack(one!.ev.ID, one!.token);
    expect(b.stats.delayed).toBe(1);
    const two = await b.dequeue();
    expect(two!.ev.ID).toBe(e.ID);
    b.nack(two!.ev.ID, two!.token);
    expect(failed).toEqual([e.ID]);
  });

  it("waits for work, and stops waiting when asked", async () => {
    const b = new EvalBroker();
    const ac = new AbortController();
    const waiting = b.dequeue(ac.signal);
    ac.abort();
    expect(await waiting).toBeNull();
    const later = b.dequeue();
    b.enqueue(ev("w"));
    expect((await later)?.ev.JobID).toBe("w");
    b.close();
  });

  it("holds an evaluation until its WaitUntil", async () => {
    const b = new EvalBroker();
    const e = { ...ev("later"), WaitUntil: Date.now() + 50 };
    b.enqueue(e);
    expect(b.stats.delayed).toBe(1);
    const t0 = Date.now();
    const got = await b.dequeue();
    expect(got!.ev.ID).toBe(e.ID);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
  });
});
