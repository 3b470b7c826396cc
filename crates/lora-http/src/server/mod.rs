//! Route wiring (`routes`: `configure`, `app`), the runner (`run`) with its `Expect:
//! 100-continue` gate, its signals and the HTTP layer's own refusals (`wire`), and the
//! background tasks every served state needs (`background`).

mod background;
mod routes;
mod run;
mod signals;
mod wire;

pub use background::{
    Background, resume_installs, spawn_background, spawn_retention, spawn_upload_sweep,
};
pub use routes::{ADMIN_UPLOAD_PATH, USER_UPLOAD_PATH, app, configure};
pub use run::{ServerOptions, run};
