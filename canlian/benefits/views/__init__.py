"""Benefits pages (待遇): programmes, applications and the review queue, a person's benefits, payroll,
screening lists and parameters. Views parse input, call one service or selector, and render; every record
comes from ``accounts.access`` (out of scope → 404), writes are POST-only with CSRF."""
