/**
 * Step-up for high-risk actions (node approval, join tokens, role changes,
 * trust changes): the API refuses with `auth.step_up_required`, this prompt
 * asks for a fresh authenticator code, proves it with POST /auth/step-up,
 * and the action is retried. A wrong code asks again.
 */
import { api, ApiError, setStepUpPrompt } from "./api.ts";
import { prompt } from "./dialog.ts";

export function installStepUp(): void {
  setStepUpPrompt(async () => {
    let text = "This is a high-risk action. Enter the current code from your authenticator app to confirm it is you.";
    for (let attempt = 0; attempt < 3; attempt++) {
      const code = await prompt({
        title: "Confirm with your authenticator",
        text,
        label: "Authenticator code",
        name: "step-up",
        inputmode: "numeric",
        autocomplete: "one-time-code",
        submit: "Confirm",
      });
      if (!code) return false;
      try {
        await api.post("/auth/step-up", { code });
        return true;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        text = `${err.message} Try the next code.`;
      }
    }
    return false;
  });
}
