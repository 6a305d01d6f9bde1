/**
 * The configurable limits the shared SMTP server refuses on, as the `limit`
 * label of aerogram_smtp_limit_refusals_total (each service owns its metric).
 */
export type SmtpLimitName =
  | "connections_per_ip"
  | "messages_per_ip"
  | "messages_per_recipient"
  | "message_size"
  | "recipients"
  | "line_length"
  | "idle_timeout"
  | "command_deadline"
  | "data_deadline";
