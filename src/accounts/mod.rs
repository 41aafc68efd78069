//! More than one account per service: add, list, switch, sign one out.
//!
//! The documented file `~/.planopticon/{service}_token.json` always holds
//! the active account's token, and only it: PlanOpticon and the Python tool
//! read it and refresh it as before. Every other saved account has a token
//! file of its own in `~/.planopticon/accounts/{service}/` (see [`index`]),
//! with the same guarantees (0600 in a 0700 folder, atomic writes, links
//! refused), its own single-flight refresh lock and its own keyring entry.
//!
//! Every change (switch, sign out, a new account made active) runs under
//! the documented file's lock, the one a refresh of the active account
//! holds; a saved account's file is moved under its own lock too, taken
//! after that one (always in this order, so two changes never wait on each
//! other). So a refresh in flight finishes before its file moves, and the
//! move carries the refreshed token. The documented file is replaced by a
//! rename: a reader sees the whole old or the whole new token.
//!
//! A switch first writes its target into the index (`switching`): a process
//! that dies half-way leaves every token somewhere, and the next change
//! finishes the switch before doing its own.

pub mod index;

use std::path::PathBuf;

use serde::Serialize;

pub use index::{name_from_identity, validate_name, Index, Layout, DEFAULT_NAME};

use crate::chain::{system_clock, Clock, Step};
use crate::status::{ServiceStatus, State};
use crate::store::{parse_token_file, RefreshLock, TokenStore};
use crate::{AuthConfig, AuthOptions, AuthResult, Error, Logout, LogoutScope, OAuthManager};
use crate::{Result, Settings};

/// One saved account of a service, as a front end shows it.
#[derive(Clone, Debug, Serialize)]
pub struct AccountInfo {
    pub service: String,
    /// Its name here (chosen by the person, or made of its identity).
    pub account: String,
    /// Whether the documented file holds it.
    pub active: bool,
    /// Who the provider says it is, when known ("Alice <alice@example.com>"),
    /// in its own words: a front end shows it through [`crate::displayable`].
    pub identity: Option<String>,
    pub expires_at: Option<f64>,
    /// Unix seconds when it was last made or left active.
    pub last_used: Option<f64>,
    pub state: State,
    /// What is wrong, as a fact, when something is.
    pub detail: Option<String>,
    pub token_path: PathBuf,
}

/// What a switch did.
#[derive(Debug, PartialEq, Eq)]
pub struct Switched {
    /// The account that was active before (now saved beside), if any.
    pub previous: Option<String>,
    /// The account asked for was active already: nothing moved.
    pub already: bool,
}

/// What signing one account out did.
#[derive(Debug)]
pub struct AccountLogout {
    /// The account signed out (`None`: nothing was saved under any name).
    pub account: Option<String>,
    pub logout: Logout,
    /// The account made active in its place (the most recently used of
    /// those left), when the active one was signed out and others remain.
    pub now_active: Option<String>,
}

/// One service's accounts.
pub struct Accounts {
    config: AuthConfig,
    layout: Layout,
    mirror: bool,
    clock: Clock,
}

impl Accounts {
    /// The accounts of `config`'s service, with the keyring mirror as the settings say.
    pub fn new(config: AuthConfig) -> Self {
        let mirror = Settings::load().keyring;
        Self::with_keyring(config, mirror)
    }

    pub fn with_keyring(mut config: AuthConfig, mirror_to_keyring: bool) -> Self {
        let layout = Layout::of(&config);
        config.saved_account = None;
        config.token_path = Some(layout.doc.clone());
        Self {
            config,
            layout,
            mirror: mirror_to_keyring,
            clock: system_clock(),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn service(&self) -> &str {
        &self.config.service
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The configuration of the saved (not active) account `name`: its own
    /// token file and keyring entry. For a manager, a status, the keeper.
    pub fn saved_config(&self, name: &str) -> AuthConfig {
        let mut c = self.config.clone();
        c.token_path = Some(self.layout.slot(name));
        c.saved_account = Some(name.to_string());
        c
    }

    /// The configuration of the documented file (the active account).
    pub fn active_config(&self) -> &AuthConfig {
        &self.config
    }

    /// A manager of `config`, as this service's are made.
    pub fn manager_of(&self, config: AuthConfig) -> OAuthManager {
        OAuthManager::with_keyring(config, self.mirror).with_clock(self.clock.clone())
    }

    /// The configuration holding `name`'s token now: the documented file
    /// when it is active, else its own; an error naming the accounts there
    /// are when it is neither.
    pub fn config_of(&self, name: &str) -> Result<AuthConfig> {
        validate_name(name)?;
        let index = self.view();
        if index.active.as_deref() == Some(name) {
            return Ok(self.config.clone());
        }
        if self.layout.slot(name).exists() {
            return Ok(self.saved_config(name));
        }
        Err(self.unknown(name, &index))
    }

    /// The active account's name (a file written before accounts existed,
    /// or by the Python tool, is named after its identity, else `default`).
    pub fn active(&self) -> Option<String> {
        self.view().active
    }

    /// The saved accounts that are not active (for the keeper and refresh).
    pub fn saved(&self) -> Vec<String> {
        let active = self.view().active;
        let mut names = self.layout.saved();
        names.retain(|n| Some(n) != active.as_ref());
        names
    }

    /// Every account, active first, then by name.
    pub fn list(&self) -> Vec<AccountInfo> {
        let index = self.view();
        let now = (self.clock)();
        let mut out: Vec<AccountInfo> = Vec::new();
        if let Some(active) = &index.active {
            out.push(self.info(active, true, &self.config, &index, now));
        }
        for name in self.saved() {
            out.push(self.info(&name, false, &self.saved_config(&name), &index, now));
        }
        out
    }

    fn info(
        &self,
        name: &str,
        active: bool,
        config: &AuthConfig,
        index: &Index,
        now: f64,
    ) -> AccountInfo {
        let s = ServiceStatus::of(config, now);
        AccountInfo {
            service: self.config.service.clone(),
            account: name.to_string(),
            active,
            identity: s.account.as_ref().and_then(crate::account::describe_raw),
            expires_at: s.expires_at,
            last_used: index.last_used(name),
            state: s.state,
            detail: s.detail,
            token_path: s.token_path,
        }
    }

    /// Makes `name` the active account: the active one's token is saved to
    /// its own file first, then `name`'s whole token replaces the
    /// documented file (a rename), and its own file goes.
    pub fn switch(&self, name: &str) -> Result<Switched> {
        validate_name(name)?;
        let _lock = self.lock()?;
        let mut index = self.settle()?;
        let previous = index.active.clone();
        if previous.as_deref() == Some(name) {
            index.touch(name, (self.clock)());
            self.layout.write_index(&index)?;
            return Ok(Switched {
                previous,
                already: true,
            });
        }
        if !self.layout.slot(name).exists() {
            return Err(self.unknown(name, &index));
        }
        index.switching = Some(name.to_string());
        self.layout.write_index(&index)?;
        self.finish_switch(&mut index, name)?;
        Ok(Switched {
            previous,
            already: false,
        })
    }

    /// Signs `name` out: revokes where asked and possible, deletes its token
    /// (and keyring copy). `None`: the active account. Signing out the
    /// active one while others remain makes the most recently used of them
    /// active; signing out the last removes the documented file.
    pub fn logout(&self, name: Option<&str>, scope: LogoutScope) -> Result<AccountLogout> {
        if let Some(n) = name {
            validate_name(n)?;
        }
        if name.is_none() && self.layout.saved().is_empty() {
            // One account at most: exactly as before accounts existed.
            let account = self.view().active;
            let logout = self.manager_of(self.config.clone()).logout(scope)?;
            self.layout.remove_index();
            return Ok(AccountLogout {
                account,
                logout,
                now_active: None,
            });
        }
        let _lock = self.lock()?;
        let mut index = self.settle()?;
        let target = match name.map(str::to_string).or(index.active.clone()) {
            Some(t) => t,
            None => {
                let logout = self.manager_of(self.config.clone()).logout_locked(scope)?;
                return Ok(AccountLogout {
                    account: None,
                    logout,
                    now_active: None,
                });
            }
        };
        if index.active.as_deref() == Some(target.as_str()) {
            return self.logout_active(index, target, scope);
        }
        if !self.layout.slot(&target).exists() {
            return Err(self.unknown(&target, &index));
        }
        let _slot = crate::store::FileStore::new(self.layout.slot(&target)).lock()?;
        let logout = self
            .manager_of(self.saved_config(&target))
            .logout_locked(scope)?;
        index.accounts.remove(&target);
        self.layout.write_index(&index)?;
        Ok(AccountLogout {
            account: Some(target),
            logout,
            now_active: None,
        })
    }

    /// Signs the active account out (the lock held), and makes the most
    /// recently used other account active.
    fn logout_active(
        &self,
        mut index: Index,
        target: String,
        scope: LogoutScope,
    ) -> Result<AccountLogout> {
        index.accounts.remove(&target);
        index.active = None;
        let next = self
            .layout
            .saved()
            .into_iter()
            .filter(|n| *n != target)
            .max_by(|a, b| {
                let used = |n: &str| index.last_used(n).unwrap_or(f64::MIN);
                used(a).total_cmp(&used(b)).then_with(|| b.cmp(a))
            });
        let manager = self.manager_of(self.config.clone());
        let logout = match &next {
            // The next account's file replaces the documented one by a
            // rename: readers never find it missing.
            Some(n) => {
                let revocation = manager.revoke_saved(scope);
                index.switching = Some(n.clone());
                self.layout.write_index(&index)?;
                self.finish_switch(&mut index, n)?;
                Logout {
                    revocation,
                    deleted: true,
                    keyring_notice: None,
                }
            }
            None => {
                let logout = manager.logout_locked(scope)?;
                self.layout.remove_index();
                logout
            }
        };
        Ok(AccountLogout {
            account: Some(target),
            logout,
            now_active: next,
        })
    }

    /// Signs in as `name`, or uses its saved connection: the active one
    /// as it is; a saved one is switched to first; a new one signs in
    /// (`opts`) into a file of its own and, when that saved a token,
    /// becomes the active account (as in gh). `Switched` tells what moved.
    pub fn sign_in(&self, name: &str, opts: AuthOptions) -> Result<(AuthResult, Option<Switched>)> {
        validate_name(name)?;
        let index = self.view();
        if index.active.as_deref() == Some(name) {
            return Ok((
                self.manager_of(self.config.clone()).authenticate(opts),
                None,
            ));
        }
        if self.layout.slot(name).exists() {
            let switched = self.switch(name)?;
            let result = self.manager_of(self.config.clone()).authenticate(opts);
            return Ok((result, Some(switched)));
        }
        self.layout.refuse_linked_folder()?;
        let result = self.manager_of(self.saved_config(name)).authenticate(opts);
        let switched = match result.success() && self.layout.slot(name).exists() {
            true => Some(self.switch(name)?),
            false => None,
        };
        Ok((result, switched))
    }

    /// "Add another account" without a name: a sign-in (`opts`, the saved
    /// token not tried) into a file of its own, then named after who the
    /// provider says it is (else `default`) and made active. Signing in
    /// again as an account already here renews that account. Returns the
    /// result and, when a token was saved, the account's name.
    pub fn add(&self, mut opts: AuthOptions) -> Result<(AuthResult, Option<String>)> {
        self.layout.refuse_linked_folder()?;
        // A name `saved()` never lists (it starts with a dot).
        let temp = format!(".adding-{}", std::process::id());
        let mut config = self.saved_config(&temp);
        config.saved_account = None;
        let manager = OAuthManager::with_keyring(config, false).with_clock(self.clock.clone());
        if opts.only.is_none() {
            opts.only = Some(match opts.sign_in {
                Some(crate::SignIn::Device) => Step::Device,
                _ => Step::Browser,
            });
        }
        let result = manager.authenticate(opts);
        let path = self.layout.slot(&temp);
        let Some(bytes) = crate::store::file::read_regular_file(&path)? else {
            return Ok((result, None));
        };
        let _ = std::fs::remove_file(&path);
        let token = parse_token_file(&bytes).map_err(|reason| Error::TokenFile {
            path: path.clone(),
            message: format!("the new sign-in's token is not valid ({reason})"),
        })?;
        let name = token
            .account
            .as_ref()
            .and_then(name_from_identity)
            .unwrap_or_else(|| DEFAULT_NAME.into());
        self.adopt(&name, &bytes)?;
        Ok((result, Some(name)))
    }

    /// Makes the token `bytes` the active account `name`: the active one's
    /// token replaced when it is `name`, else `name`'s file written and
    /// switched to.
    fn adopt(&self, name: &str, bytes: &[u8]) -> Result<()> {
        {
            let _lock = self.lock()?;
            let mut index = self.settle()?;
            if index.active.as_deref() == Some(name) {
                self.doc_store().save_bytes(bytes)?;
                index.touch(name, (self.clock)());
                return self.layout.write_index(&index);
            }
            let slot = self.saved_store(name);
            let _slot_lock = slot.file.lock()?;
            slot.save_bytes(bytes)?;
        }
        self.switch(name).map(|_| ())
    }

    /// `name`'s saved token, refreshed if expired, with nothing switched
    /// and nobody asked to sign in. A switch that moves the token between
    /// the files meanwhile is followed (the file is looked up again).
    pub fn token(&self, name: &str) -> Result<AuthResult> {
        let mut last = None;
        for _ in 0..3 {
            let config = self.config_of(name)?;
            let mut opts = AuthOptions::non_interactive();
            opts.only = Some(Step::Saved);
            let result = self.manager_of(config.clone()).authenticate(opts);
            // Still where it was read from: the token is `name`'s.
            let same = self.config_of(name).is_ok_and(|c| c == config);
            if same {
                return Ok(result);
            }
            last = Some(result);
        }
        Ok(last.expect("tried at least once"))
    }

    /// After a sign-in on the documented file (`planopticon auth SERVICE`,
    /// the app's Connect): [`Self::record_use`] when it succeeded with a
    /// token (an API key from the environment is no account).
    pub fn record_sign_in(&self, result: &AuthResult) -> Result<()> {
        if result.success() && result.method() != Some(crate::Method::ApiKey) {
            self.record_use()?;
        }
        Ok(())
    }

    /// After a sign-in or use of the documented file without a name: names
    /// a token not named yet (after its identity, else `default`) and
    /// records the use. Returns the active account's name.
    pub fn record_use(&self) -> Result<Option<String>> {
        // Only a token file of ours to name: nothing else is touched (not
        // even the lock file beside a link or a FIFO in its place).
        let doc = crate::store::FileStore::new(self.layout.doc.clone()).peek();
        if !matches!(doc, Ok(Some(Ok(_)))) {
            return Ok(None);
        }
        let _lock = self.lock()?;
        let mut index = self.settle()?;
        if let Some(active) = index.active.clone() {
            index.touch(&active, (self.clock)());
            self.layout.write_index(&index)?;
        }
        Ok(index.active)
    }

    /// The documented file's lock: the one its refresh holds.
    fn lock(&self) -> Result<RefreshLock> {
        self.layout.refuse_linked_folder()?;
        crate::store::FileStore::new(self.layout.doc.clone()).lock()
    }

    /// The index as the files make it, without writing: the documented
    /// file gone means no account is active; one nobody named yet is
    /// named; names with no file are dropped.
    fn view(&self) -> Index {
        let mut index = self.layout.read_index();
        let saved = self.layout.saved();
        let doc = crate::store::FileStore::new(self.layout.doc.clone()).peek();
        match doc {
            Ok(Some(Ok(token))) if index.active.is_none() => {
                let base = token
                    .account
                    .as_ref()
                    .and_then(name_from_identity)
                    .unwrap_or_else(|| DEFAULT_NAME.into());
                let name = unique(base, &saved);
                index.touch(&name, (self.clock)());
                index.active = Some(name);
            }
            Ok(None) => index.active = None,
            _ => {}
        }
        let active = index.active.clone();
        index
            .accounts
            .retain(|n, _| saved.contains(n) || Some(n) == active.as_ref());
        index
    }

    /// [`Self::view`] written down, after finishing a switch a dead process
    /// began. The lock is held.
    fn settle(&self) -> Result<Index> {
        let written = self.layout.read_index();
        if let Some(to) = written.switching.clone() {
            let mut index = written.clone();
            self.finish_switch(&mut index, &to)?;
        }
        let index = self.view();
        if index != self.layout.read_index() && (index.active.is_some() || self.layout.dir.exists())
        {
            self.layout.write_index(&index)?;
        }
        Ok(index)
    }

    /// The switch to `to` from the index's active account, each step safe
    /// to repeat: save the documented token to the active account's file
    /// (unless it already is `to`'s), put `to`'s bytes in the documented
    /// file, delete `to`'s file, write the index. The lock is held.
    fn finish_switch(&self, index: &mut Index, to: &str) -> Result<()> {
        let slot = self.saved_store(to);
        let _slot_lock = slot.file.lock()?;
        let now = (self.clock)();
        if let Some(bytes) = crate::store::file::read_regular_file(slot.file.path())? {
            parse_token_file(&bytes).map_err(|reason| Error::TokenFile {
                path: slot.file.path().into(),
                message: format!(
                    "is not a valid token file ({reason}); sign in as this account again"
                ),
            })?;
            let doc = self.doc_store();
            let current = crate::store::file::read_regular_file(doc.file.path())?;
            if let (Some(from), Some(cur)) = (index.active.clone(), current) {
                if from != to && cur != bytes && parse_token_file(&cur).is_ok() {
                    self.saved_store(&from).save_bytes(&cur)?;
                }
            }
            doc.save_bytes(&bytes)?;
            slot.delete()?;
        }
        if let Some(from) = index.active.clone() {
            index.touch(&from, now);
        }
        index.active = Some(to.to_string());
        index.switching = None;
        index.touch(to, now);
        self.layout.write_index(index)
    }

    fn doc_store(&self) -> TokenStore {
        TokenStore::of(&self.config, self.mirror)
    }

    fn saved_store(&self, name: &str) -> TokenStore {
        TokenStore::of(&self.saved_config(name), self.mirror)
    }

    fn unknown(&self, name: &str, index: &Index) -> Error {
        let mut known: Vec<String> = index.active.iter().cloned().collect();
        known.extend(self.saved());
        Error::UnknownAccount {
            service: self.config.service.clone(),
            name: name.into(),
            known: match known.is_empty() {
                true => "none yet".into(),
                false => known.join(", "),
            },
        }
    }
}

/// `base`, or `base-2`, `base-3`... when a saved account has that name.
fn unique(base: String, taken: &[String]) -> String {
    if !taken.contains(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !taken.contains(n) && validate_name(n).is_ok())
        .unwrap_or(base)
}

/// `configs` and, after each, its service's saved accounts that are not
/// active: every connection a keeper or `refresh --all` keeps alive.
pub fn with_saved_accounts(configs: Vec<AuthConfig>) -> Vec<AuthConfig> {
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        let saved = match c.saved_account {
            None => {
                let a = Accounts::with_keyring(c.clone(), false);
                a.saved().into_iter().map(|n| a.saved_config(&n)).collect()
            }
            Some(_) => Vec::new(),
        };
        out.push(c);
        out.extend(saved);
    }
    out
}

/// The account a configuration's token belongs to: the saved account it
/// names, else the active one's name when the service has saved accounts
/// beside it (`None` for a service with one account: nothing to tell apart).
pub fn account_name(config: &AuthConfig) -> Option<String> {
    if let Some(n) = &config.saved_account {
        return Some(n.clone());
    }
    let a = Accounts::with_keyring(config.clone(), false);
    match a.layout.saved().is_empty() {
        true => None,
        false => a.active(),
    }
}

/// A key per connection: the service, and `/name` for a saved account.
pub fn key(config: &AuthConfig) -> String {
    match &config.saved_account {
        Some(n) => format!("{}/{n}", config.service),
        None => config.service.clone(),
    }
}
