//! The one owner of who is attached, how the session ended, what the desktop
//! looks like and which quality it is rendered at. Everyone waits on the same
//! `watch` channel, so a change (attach, takeover, detach, a resize, a quality
//! change, the end) wakes exactly the tasks that care and none can miss it.

use tokio::sync::watch;

use crate::events::EndReason;
use crate::quality::{self, ColorMode, Profile, Settings};

/// What the `desktop` message tells the client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DesktopInfo {
    pub width: u16,
    pub height: u16,
    /// The server offers the display-control channel: resizes are applied.
    pub resizable: bool,
}

/// The quality the resource allows and the one currently chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QualityChoice {
    pub profile: Profile,
    pub color_mode: Option<ColorMode>,
    pub adjustable: bool,
}

impl QualityChoice {
    /// The profile's settings before adaptation.
    pub fn base(&self) -> Settings {
        quality::settings(self.profile, self.color_mode)
    }
}

#[derive(Debug)]
pub(crate) struct HubState {
    pub attached: Option<u64>,
    next_attachment: u64,
    pub ended: Option<EndReason>,
    pub desktop: DesktopInfo,
    pub quality: QualityChoice,
}

#[derive(Debug)]
pub(crate) struct Hub {
    state: watch::Sender<HubState>,
}

impl Hub {
    pub(crate) fn new(desktop: DesktopInfo, quality: QualityChoice) -> Hub {
        Hub { state: watch::Sender::new(HubState { attached: None, next_attachment: 0, ended: None, desktop, quality }) }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<HubState> {
        self.state.subscribe()
    }

    /// Makes a new attachment the current one; the previous one (if any) sees it was taken over.
    pub(crate) fn attach(&self) -> u64 {
        let mut id = 0;
        self.state.send_modify(|s| {
            s.next_attachment += 1;
            id = s.next_attachment;
            s.attached = Some(id);
        });
        id
    }

    /// Detaches `id` if it is still the current attachment.
    pub(crate) fn detach(&self, id: u64) {
        self.state.send_if_modified(|s| {
            if s.attached != Some(id) {
                return false;
            }
            s.attached = None;
            true
        });
    }

    pub(crate) fn detach_current(&self) {
        let current = self.state.borrow().attached;
        if let Some(id) = current {
            self.detach(id);
        }
    }

    pub(crate) fn attached(&self) -> Option<u64> {
        self.state.borrow().attached
    }

    /// Marks the session over (the first reason wins).
    pub(crate) fn end(&self, reason: EndReason) {
        self.state.send_if_modified(|s| {
            if s.ended.is_some() {
                return false;
            }
            s.ended = Some(reason);
            true
        });
    }

    pub(crate) fn ended(&self) -> Option<EndReason> {
        self.state.borrow().ended.clone()
    }

    pub(crate) fn desktop(&self) -> DesktopInfo {
        self.state.borrow().desktop
    }

    pub(crate) fn set_desktop(&self, desktop: DesktopInfo) {
        self.state.send_if_modified(|s| {
            let changed = s.desktop != desktop;
            s.desktop = desktop;
            changed
        });
    }

    pub(crate) fn quality(&self) -> QualityChoice {
        self.state.borrow().quality
    }

    /// Applies a runtime quality change; `false` when the resource does not allow one.
    pub(crate) fn set_quality(&self, profile: Option<Profile>, color_mode: Option<ColorMode>) -> bool {
        let mut allowed = false;
        self.state.send_if_modified(|s| {
            allowed = s.quality.adjustable;
            if !allowed {
                return false;
            }
            let before = s.quality;
            if let Some(p) = profile {
                s.quality.profile = p;
                // A new profile brings its own colour mode unless one is given too.
                s.quality.color_mode = color_mode;
            } else if color_mode.is_some() {
                s.quality.color_mode = color_mode;
            }
            s.quality != before
        });
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(adjustable: bool) -> Hub {
        Hub::new(
            DesktopInfo { width: 800, height: 600, resizable: false },
            QualityChoice { profile: Profile::Balanced, color_mode: None, adjustable },
        )
    }

    #[test]
    fn a_new_attachment_takes_over_and_a_stale_detach_changes_nothing() {
        let hub = hub(true);
        let first = hub.attach();
        let second = hub.attach();
        assert_eq!(hub.attached(), Some(second));
        hub.detach(first);
        assert_eq!(hub.attached(), Some(second));
        hub.detach(second);
        assert_eq!(hub.attached(), None);
    }

    #[test]
    fn quality_changes_only_when_the_resource_allows_them() {
        let locked = hub(false);
        assert!(!locked.set_quality(Some(Profile::HighQuality), None));
        assert_eq!(locked.quality().profile, Profile::Balanced);
        let open = hub(true);
        assert!(open.set_quality(Some(Profile::HighQuality), Some(ColorMode::Grayscale)));
        assert_eq!((open.quality().profile, open.quality().color_mode), (Profile::HighQuality, Some(ColorMode::Grayscale)));
        assert!(open.set_quality(None, Some(ColorMode::Colors16)));
        assert_eq!((open.quality().profile, open.quality().color_mode), (Profile::HighQuality, Some(ColorMode::Colors16)));
    }

    #[test]
    fn the_first_end_reason_wins() {
        let hub = hub(true);
        hub.end(EndReason::Stopped);
        hub.end(EndReason::ConnectionLost { detail: "x".into() });
        assert_eq!(hub.ended(), Some(EndReason::Stopped));
    }
}
