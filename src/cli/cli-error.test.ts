import { describe, expect, it } from "vitest";
import { BatonClientError } from "../client/index.js";
import { BatonError } from "../common/index.js";
import { ExitCode, UsageError, describeError, exitCodeOf } from "./cli-error.js";

describe("exit codes", () => {
  it("are 2 for usage mistakes and for answers that say the input was bad", () => {
    expect(exitCodeOf(new UsageError("--input is not valid JSON"))).toBe(ExitCode.Usage);
    expect(exitCodeOf(new BatonClientError("INPUT_INVALID", "no", { httpStatus: 422 }))).toBe(
      ExitCode.Usage,
    );
    expect(exitCodeOf(new BatonClientError("SOMETHING_NEW", "no", { httpStatus: 400 }))).toBe(
      ExitCode.Usage,
    );
  });

  it("are 1 for runs not found, conflicts, auth, an unreachable server and anything unexpected", () => {
    expect(exitCodeOf(new BatonClientError("RUN_NOT_FOUND", "no", { httpStatus: 404 }))).toBe(
      ExitCode.Failed,
    );
    expect(exitCodeOf(new BatonClientError("RUN_TERMINAL", "no", { httpStatus: 409 }))).toBe(
      ExitCode.Failed,
    );
    expect(exitCodeOf(new BatonClientError("UNAUTHORIZED", "no", { httpStatus: 401 }))).toBe(
      ExitCode.Failed,
    );
    expect(exitCodeOf(new BatonClientError("UNAVAILABLE", "no"))).toBe(ExitCode.Failed);
    expect(exitCodeOf(new Error("boom"))).toBe(ExitCode.Failed);
  });
});

describe("describeError", () => {
  it("is one line with the code, and lists a schema's complaints not already in the message", () => {
    const error = new BatonError(
      "INPUT_INVALID",
      "input does not match the schema of workflow greet",
      {
        details: {
          issues: [
            { path: ["name"], message: "expected string" },
            { path: [], message: "too big" },
          ],
        },
      },
    );
    expect(describeError(error)).toBe(
      "error: INPUT_INVALID: input does not match the schema of workflow greet\n  - name: expected string\n  - input: too big",
    );
  });

  it("names a system error by its code and leaves usage errors uncoded", () => {
    const refused = Object.assign(new Error("listen EACCES: permission denied 0.0.0.0:80"), {
      code: "EACCES",
    });
    expect(describeError(refused)).toBe("error: listen EACCES: permission denied 0.0.0.0:80");
    expect(describeError(new UsageError("bad"))).toBe("error: bad");
    expect(describeError(new Error("plain"))).toBe("error: plain");
  });
});
