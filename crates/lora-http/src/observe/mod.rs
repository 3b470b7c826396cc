//! What operators see: the audit trail (`audit`), Prometheus metrics (`metrics`) and the
//! request log with its request ids (`request_log`).

pub(crate) mod audit;
pub(crate) mod metrics;
pub(crate) mod request_log;
