//! Raw bytes sent to a live loopback listener that waits for a sign-in.
//! Whatever arrives, the listener answers or closes within a few seconds,
//! the process does not crash, and the wait goes on (nothing here carries
//! the state, so nothing may end it).
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use oauth2::CsrfToken;
use planopticon::redirect::{Expect, LoopbackListener};

static ENDED: AtomicBool = AtomicBool::new(false);

/// One listener for the whole run, its wait on a thread of its own.
fn port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let listener =
            LoopbackListener::bind("http://127.0.0.1/callback").expect("bind 127.0.0.1:0");
        let port = listener.port();
        std::thread::spawn(move || {
            let expect = Expect {
                state: CsrfToken::new_random(),
                issuer: Some("http://127.0.0.1:9".into()),
                require_iss: false,
            };
            let end = listener.wait(&expect, Duration::from_secs(86_400), &mut || None);
            eprintln!("the wait ended: {end:?}");
            ENDED.store(true, Ordering::SeqCst);
        });
        port
    })
}

fuzz_target!(|data: &[u8]| {
    let port = port();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(data);
    let _ = stream.shutdown(Shutdown::Write);
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no answer and no close within 5 s: {e}"),
    }
    assert!(
        !ENDED.load(Ordering::SeqCst),
        "a stray request ended the wait"
    );
});
