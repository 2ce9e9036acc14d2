//! Asks an X11 window to close the way a window manager's close button does: the
//! `WM_DELETE_WINDOW` protocol message. The application decides what closing means (KeyGate
//! hides to the tray), unlike WebDriver's "close window", which ends the session.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{AtomEnum, ClientMessageEvent, ConnectionExt, EventMask, Window};

/// Sends `WM_DELETE_WINDOW` to every top-level window titled `title`; returns how many.
pub fn request_close(title: &str) -> Result<usize, String> {
    let (conn, screen) = x11rb::connect(None).map_err(|e| format!("no X display: {e}"))?;
    let root = conn.setup().roots[screen].root;
    let atom = |name: &str| -> Result<u32, String> {
        Ok(conn
            .intern_atom(false, name.as_bytes())
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?
            .atom)
    };
    let (protocols, delete, net_name, utf8) = (
        atom("WM_PROTOCOLS")?,
        atom("WM_DELETE_WINDOW")?,
        atom("_NET_WM_NAME")?,
        atom("UTF8_STRING")?,
    );
    let mut sent = 0;
    let mut stack: Vec<Window> = vec![root];
    while let Some(window) = stack.pop() {
        let tree = conn
            .query_tree(window)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?;
        stack.extend(tree.children);
        let name = |property: u32, kind: u32| {
            conn.get_property(false, window, property, kind, 0, 1024)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|r| String::from_utf8_lossy(&r.value).to_string())
                .unwrap_or_default()
        };
        let titled = name(net_name, utf8) == title
            || name(AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()) == title;
        if titled {
            let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
            conn.send_event(false, window, EventMask::NO_EVENT, event)
                .map_err(|e| e.to_string())?;
            sent += 1;
        }
    }
    conn.flush().map_err(|e| e.to_string())?;
    Ok(sent)
}
