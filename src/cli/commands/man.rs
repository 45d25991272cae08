//! `vip-run man`: one page, `vip-run(1)`. `clap_mangen`'s commands section names each command as
//! a page of its own (`vip-run-run(1)`), which only its multi-page generator writes; from one
//! page those are dangling references, so the commands are listed here by what is typed
//! (`vip-run run`), with `clap_mangen`'s other sections around them.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::args::Cli;
use crate::error::Error;
use crate::exit_code;

/// `man`: prints the page.
pub fn exec(out: &mut dyn Write) -> Result<i32, Error> {
    render(out)?;
    Ok(exit_code::SUCCESS)
}

/// Renders one section of the page.
type Section<'a> = dyn Fn(&mut dyn Write) -> std::io::Result<()> + 'a;

/// Writes the man page (roff) to `out`.
pub fn render(out: &mut dyn Write) -> std::io::Result<()> {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    // Into memory first: one write, so a closed pipe fails once, cleanly.
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    // Each section comes with the page's preamble, which belongs once, above the title.
    let sections: [&Section; 7] = [
        &|w| man.render_name_section(w),
        &|w| man.render_synopsis_section(w),
        &|w| man.render_description_section(w),
        &|w| man.render_options_section(w),
        &|w| commands_section(w, &command),
        &|w| man.render_extra_section(w),
        &|w| man.render_version_section(w),
    ];
    for section in sections {
        let mut text = Vec::new();
        section(&mut text)?;
        page.extend(without_preamble(&text));
    }
    out.write_all(&page)?;
    out.flush()
}

/// `text` without the lines that define roff's `Aq` string (`.ie \n(.g .ds Aq …`,
/// `.el .ds Aq …`), which every section `clap_mangen` renders starts with.
fn without_preamble(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    text.split_inclusive('\n')
        .filter(|line| {
            !(line.starts_with(".ie ") || line.starts_with(".el ")) || !line.contains(".ds Aq")
        })
        .collect::<String>()
        .into_bytes()
}

/// `COMMANDS`: each command as typed, and what it does.
fn commands_section(out: &mut dyn Write, command: &clap::Command) -> std::io::Result<()> {
    writeln!(out, ".SH COMMANDS")?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        writeln!(out, ".TP")?;
        writeln!(out, "\\fBvip\\-run {}\\fR", escape(sub.get_name()))?;
        if let Some(about) = sub.get_about() {
            for line in about.to_string().lines() {
                writeln!(out, "{}", escape(line))?;
            }
        }
    }
    Ok(())
}

/// Text as roff prints it: backslashes doubled, a hyphen as a hyphen-minus (what is typed),
/// and a line that would start with a control character kept as text.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_no_page_it_does_not_come_with() {
        let mut out = Vec::new();
        render(&mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains("\n.TH vip-run"), "{page}");
        assert_eq!(page.matches(".ds Aq").count(), 2, "{page}");
        assert!(!page.contains("vip\\-run\\-run(1)"), "{page}");
        assert!(!page.contains("vip-run-run(1)"), "{page}");
        assert!(page.contains("\\fBvip\\-run run\\fR"), "{page}");
        assert!(page.contains(".SH COMMANDS"), "{page}");
    }

    #[test]
    fn roff_control_characters_stay_text() {
        assert_eq!(escape(".hidden"), "\\&.hidden");
        assert_eq!(escape("a\\b-c"), "a\\eb\\-c");
    }
}
