//! PlanOpticon Auth: connects a person's cloud accounts and keeps the
//! connections alive.
//!
//! The chain ([`OAuthManager::authenticate`]): saved token (refreshed when
//! expired) -> server-to-server -> a sign-in by a person (browser with PKCE,
//! or device code) -> API key. Tokens live in
//! `~/.planopticon/{service}_token.json`, readable by the Python tool of the
//! same name, optionally mirrored into the OS keyring. A service can keep
//! several accounts ([`Accounts`]): that file is always the active one's,
//! the others are kept beside it.
//!
//! [`Keeper`] keeps the saved connections alive while it runs: it refreshes
//! ahead of expiry through the same single-flight refresh, sleeps until
//! the next one is due and wakes on events ([`Wake`]);
//! [`OAuthManager::refresh_now`] is one such refresh.
//!
//! For a program embedding the library, the spec's `get_auth_config` and
//! `get_auth_manager` are [`auth_config`] and [`auth_manager`]:
//!
//! ```no_run
//! let manager = planopticon::auth_manager("github")?;
//! if let Some(token) = manager.get_token() {
//!     println!("{} characters of token", token.secret().len());
//! }
//! # Ok::<(), planopticon::Error>(())
//! ```

pub mod account;
pub mod accounts;
pub mod chain;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod discovery;
pub mod error;
pub(crate) mod flow;
pub mod guide;
pub mod keeper;
pub mod method;
pub mod network;
pub(crate) mod platform;
pub mod redirect;
pub mod services;
pub mod setup;
pub mod status;
pub mod store;
pub mod untrusted;

pub use account::{Logout, LogoutScope, Revocation};
pub use accounts::{AccountInfo, AccountLogout, Accounts, Switched};
pub use chain::{
    refresh_due_at, system_clock, AuthOptions, AuthResult, Authenticated, Choice, Clock, Control,
    Failure, Interaction, OAuthManager, Place, Prompt, RedirectMode, RefreshWhen, Renewal, SignIn,
    Way, Whereabouts,
};
pub use config::{AuthConfig, Settings};
pub use error::{Error, Hint, Result, Retry};
pub use flow::Transport;
pub use keeper::{Keeper, KeeperSettings, Wake};
pub use method::{Method, ObtainedBy, Step};
pub use oauth2::{AccessToken, RefreshToken};
pub use services::Registry;
pub use status::{ServiceStatus, State};
pub use untrusted::{displayable, Untrusted};

/// The configuration of `service` (the spec's `get_auth_config`): a built-in
/// or a table of `~/.planopticon/services.toml`, with the file's overrides.
pub fn auth_config(service: &str) -> Result<AuthConfig> {
    Registry::load().get(service)
}

/// A ready manager for `service` (the spec's `get_auth_manager`), with the
/// keyring mirror as the settings say.
pub fn auth_manager(service: &str) -> Result<OAuthManager> {
    auth_config(service).map(OAuthManager::new)
}
