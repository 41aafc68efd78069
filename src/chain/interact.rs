//! What a person does during a sign-in: who is there to take part, what
//! they are told, and how the code comes back (the loopback listener, a
//! paste at the terminal, or a paste or cancel from the app).

use std::sync::mpsc::Receiver;

use oauth2::AuthorizationCode;

use super::{AuthOptions, SignIn};
use crate::redirect::{paste::parse_pasted, Control, Expect, LoopbackListener, WaitError};
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
}

/// Told the authorization URL before the browser opens.
pub type PromptFn = Box<dyn Fn(&Prompt) + Send>;

pub(super) fn tell(opts: &AuthOptions, prompt: &Prompt) {
    if let Some(tell) = &opts.on_prompt {
        tell(prompt);
    }
}

/// Waits for the code: from the listener (where the app may also paste or
/// cancel), or as pasted at the terminal or in the app.
pub(super) fn wait_for_code(
    service: &str,
    listener: Option<&LoopbackListener>,
    expect: &Expect,
    opts: &mut AuthOptions,
) -> Result<AuthorizationCode> {
    let timeout = opts.timeout;
    let ended = |e: WaitError| match e {
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
    };
    let pasted = |text: &str| parse_pasted(text, expect).map_err(|m| ended(WaitError::BadPaste(m)));
    match (listener, &mut opts.interaction) {
        (Some(l), Interaction::App(rx)) => l
            .wait(expect, timeout, &mut || rx.try_recv().ok())
            .map_err(ended),
        (Some(l), _) => l.wait(expect, timeout, &mut || None).map_err(ended),
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
