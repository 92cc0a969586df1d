//! Reports for CI systems and people: JUnit XML (one testcase per check) and a single-file
//! HTML report (inline CSS and SVG, no external assets).

mod html;
mod junit;
mod png;
mod xml;

pub use html::html_report;
pub use junit::junit_xml;
pub use png::distinct_colours;
pub use xml::escape;
