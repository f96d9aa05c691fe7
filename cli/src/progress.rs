//! The live display of a running `sync` on stderr: a bar of commits with the phase and the counts
//! of fs objects, blocks and bytes. It is drawn only when stderr is a terminal, and cleared before
//! the final lines are printed.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use seaf_backup_proto::admin::SyncProgress;

use crate::text::{phase_name, progress_message};

/// A sync's progress display; hidden (every call a no-op) when stderr is not a terminal.
pub struct SyncDisplay {
    bar: ProgressBar,
    repo_id: String,
}

impl SyncDisplay {
    /// A display for the sync of `repo_id`, visible only when stderr is a terminal.
    pub fn new(repo_id: &str) -> SyncDisplay {
        if !std::io::stderr().is_terminal() {
            return SyncDisplay::hidden(repo_id);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(style().unwrap_or_else(|_| ProgressStyle::default_bar()));
        bar.set_prefix(format!("library {repo_id}: connecting"));
        bar.enable_steady_tick(Duration::from_millis(120));
        SyncDisplay { bar, repo_id: repo_id.to_owned() }
    }

    /// A display that draws nothing.
    pub fn hidden(repo_id: &str) -> SyncDisplay {
        SyncDisplay { bar: ProgressBar::hidden(), repo_id: repo_id.to_owned() }
    }

    /// Shows one progress message.
    pub fn update(&self, p: &SyncProgress) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_prefix(format!("library {}: {}", self.repo_id, phase_name(p.phase)));
        // Until the number of commits to fetch is known, the bar stays empty.
        match p.commits_total.max(p.commits_done) {
            0 => self.bar.unset_length(),
            total => self.bar.set_length(total),
        }
        self.bar.set_position(p.commits_done);
        self.bar.set_message(progress_message(p));
    }

    /// Removes the display from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Two lines (each within 80 columns): the library, its phase and the time so far; then a bar of
/// commits and the counts of fs objects, blocks and bytes.
fn style() -> Result<ProgressStyle, indicatif::style::TemplateError> {
    ProgressStyle::with_template("{spinner} {prefix} ({elapsed})\n  {bar:24} {pos}/{len} commits, {wide_msg}")
}

impl Drop for SyncDisplay {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaf_backup_proto::admin::sync_progress::Phase;

    #[test]
    fn template_is_valid() {
        assert!(style().is_ok());
    }

    #[test]
    fn a_hidden_display_accepts_updates() {
        let d = SyncDisplay::hidden("3f9e4aa5-d6ba-4066-a1d6-81824f422af1");
        d.update(&SyncProgress { phase: Phase::Syncing as i32, commits_done: 2, ..Default::default() });
        d.finish();
        assert!(d.bar.is_hidden());
    }
}
