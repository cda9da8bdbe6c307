import { ApiProblem } from "../admin-client.js";

/** A refusal or failure, as the API's problem title and detail: never a blank screen. */
export function ProblemBanner({ error }: { readonly error: unknown }) {
  if (error === undefined || error === null) return null;
  const title = error instanceof ApiProblem ? error.title : "Something went wrong";
  const detail =
    error instanceof ApiProblem ? error.detail : error instanceof Error ? error.message : "";
  return (
    <div class="problem" role="alert">
      <strong>{title}</strong>
      {detail === "" ? null : <span> {detail}</span>}
    </div>
  );
}
