//! What a person does during a sign-in: who is there to take part, what
//! they are told, and how the code comes back (the loopback listener, a
//! paste at the terminal, or a paste or cancel from the app).

use std::sync::mpsc::Receiver;
use std::time::Duration;

use oauth2::AuthorizationCode;

use super::{AuthOptions, SignIn};
use crate::redirect::{
    paste::parse_pasted, BrowserLaunch, Expect, LoopbackListener, OpenError, WaitError,
};
/// What the app sends a running sign-in (cancel, a pasted code), and how
/// the code of a browser sign-in comes back: the interaction's words, kept
/// with the redirect that acts on them.
pub use crate::redirect::{Control, RedirectMode};
use crate::{Error, Result};

/// Who can take part in a sign-in.
pub enum Interaction {
    /// Nobody: only the non-interactive steps run.
    None,
    /// A browser can be opened (loopback), but nobody can paste.
    Browser,
    /// A person at a terminal: the function returns what they pasted (None: gave up).
    Terminal(Box<dyn FnMut() -> Option<String> + Send>),
    /// The app: cancel, or a pasted code, arrives on the channel.
    App(Receiver<Control>),
}

impl Interaction {
    pub fn can_paste(&self) -> bool {
        matches!(self, Self::Terminal(_) | Self::App(_))
    }

    /// Whether the app asked to stop (a device sign-in polls this).
    pub(crate) fn cancelled(&self) -> bool {
        match self {
            Self::App(rx) => matches!(rx.try_recv(), Ok(Control::Cancel)),
            _ => false,
        }
    }
}

/// What the person is asked to do, told to the front end before the browser opens.
pub struct Prompt<'a> {
    pub service: &'a str,
    /// The authorization URL, or the device verification page.
    pub url: &'a str,
    pub sign_in: SignIn,
    /// The code to enter at `url`, in a device sign-in.
    pub user_code: Option<&'a str>,
    /// The remote way: no browser was opened here; `url` is to be opened on
    /// any machine, and the address the browser ends on (its page does not
    /// load) pasted back.
    pub remote: bool,
    /// Why this way: where the person is (when the chain chose), or the
    /// browser that could not be opened (when a paste follows instead).
    pub why: Option<&'a str>,
}

/// Told the authorization URL before the browser opens.
pub type PromptFn = Box<dyn Fn(&Prompt) + Send>;

pub(super) fn tell(opts: &AuthOptions, prompt: &Prompt) {
    if let Some(tell) = &opts.on_prompt {
        tell(prompt);
    }
}

/// How a wait for the code ended well.
pub(super) enum Waited {
    Code(AuthorizationCode),
    /// The browser could not be opened, so no callback will come (not
    /// said to the app, where the person can paste or cancel anyway).
    NoBrowser(OpenError),
}

/// The error a wait for the code ended with.
fn wait_error(service: &str, timeout: Duration, e: WaitError) -> Error {
    match e {
        WaitError::Provider { error, description } => Error::AuthorizationDenied {
            service: service.into(),
            error,
            description,
        },
        WaitError::Timeout => Error::AuthorizationTimeout {
            service: service.into(),
            secs: timeout.as_secs(),
        },
        WaitError::Cancelled => Error::Cancelled {
            service: service.into(),
        },
        WaitError::BadPaste(message) => Error::BadCode {
            service: service.into(),
            message,
        },
        WaitError::Listener(cause) => Error::Listener {
            addr: "127.0.0.1".into(),
            cause,
        },
    }
}

/// Waits for the code: from the listener (where the app may also paste or
/// cancel), or as pasted at the terminal or in the app. A browser being
/// opened that fails ends a listener's wait at once.
pub(super) fn wait_for_code(
    service: &str,
    listener: Option<&LoopbackListener>,
    expect: &Expect,
    opts: &mut AuthOptions,
    browser: Option<&BrowserLaunch>,
) -> Result<Waited> {
    let timeout = opts.timeout;
    let ended = |e: WaitError| wait_error(service, timeout, e);
    let pasted = |text: &str| {
        parse_pasted(text, expect)
            .map(Waited::Code)
            .map_err(|m| ended(WaitError::BadPaste(m)))
    };
    match (listener, &mut opts.interaction) {
        (Some(l), Interaction::App(rx)) => l
            .wait(expect, timeout, &mut || rx.try_recv().ok())
            .map(Waited::Code)
            .map_err(ended),
        (Some(l), _) => {
            // The listener's wait is ended by a cancel; a failed browser is
            // told apart afterwards.
            let failed = || browser.and_then(BrowserLaunch::failed);
            match l.wait(expect, timeout, &mut || failed().map(|_| Control::Cancel)) {
                Ok(code) => Ok(Waited::Code(code)),
                Err(WaitError::Cancelled) if failed().is_some() => {
                    Ok(Waited::NoBrowser(failed().expect("just seen")))
                }
                Err(e) => Err(ended(e)),
            }
        }
        (None, Interaction::Terminal(read)) => {
            let text = read().ok_or_else(|| ended(WaitError::Cancelled))?;
            pasted(&text)
        }
        (None, Interaction::App(rx)) => match rx.recv_timeout(timeout) {
            Ok(Control::Paste(text)) => pasted(&text),
            Ok(Control::Cancel) => Err(ended(WaitError::Cancelled)),
            Err(_) => Err(ended(WaitError::Timeout)),
        },
        (None, _) => Err(ended(WaitError::Cancelled)),
    }
}
