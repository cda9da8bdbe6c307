/** A request a shadow policy would have refused (see `KeyGuardOptions.onShadowRefusal`). */
export interface ShadowRefusal {
  readonly keyId: string;
  readonly orgId: string;
  /** The policy's name as answers list it (`org.<name>` for an organization's). */
  readonly policy: string;
}
