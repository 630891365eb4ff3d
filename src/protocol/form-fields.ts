/** A token request's form fields: single-valued ones already checked for repeats by the HTTP layer. */
export interface FormFields {
  single(name: string): string | undefined;
  all(name: string): readonly string[];
}
