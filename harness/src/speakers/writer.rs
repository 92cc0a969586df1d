//! A tiny line writer for config files: indentation and comments, nothing else. Renderers build
//! their text with it line by line instead of one large `format!` template.

use std::fmt::{Display, Write};

/// Accumulates lines with an indentation level.
#[derive(Debug)]
pub(crate) struct ConfigWriter {
    out: String,
    depth: usize,
    indent: &'static str,
    comment: &'static str,
}

impl ConfigWriter {
    /// `indent` is one level of indentation; `comment` starts a comment line (`#`, `!`).
    pub(crate) fn new(indent: &'static str, comment: &'static str) -> Self {
        ConfigWriter {
            out: String::new(),
            depth: 0,
            indent,
            comment,
        }
    }

    /// One line at the current depth.
    pub(crate) fn line(&mut self, text: impl Display) -> &mut Self {
        for _ in 0..self.depth {
            self.out.push_str(self.indent);
        }
        // Writing to a String cannot fail.
        let _ = writeln!(self.out, "{text}");
        self
    }

    /// A comment line at the current depth.
    pub(crate) fn comment(&mut self, text: impl Display) -> &mut Self {
        let c = self.comment;
        self.line(format_args!("{c} {text}"))
    }

    /// An empty line.
    pub(crate) fn blank(&mut self) -> &mut Self {
        self.out.push('\n');
        self
    }

    /// A line that opens a block; following lines are indented one level deeper.
    pub(crate) fn open(&mut self, text: impl Display) -> &mut Self {
        self.line(text);
        self.depth += 1;
        self
    }

    /// Ends a block, then writes `text` (if not empty) at the outer depth.
    pub(crate) fn close(&mut self, text: impl Display) -> &mut Self {
        self.depth = self.depth.saturating_sub(1);
        let s = text.to_string();
        if !s.is_empty() {
            self.line(s);
        }
        self
    }

    /// The text written so far.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_and_comments() {
        let mut w = ConfigWriter::new("  ", "#");
        w.comment("hi").open("a {").line("b;").close("}").blank();
        assert_eq!(w.finish(), "# hi\na {\n  b;\n}\n\n");
    }
}
