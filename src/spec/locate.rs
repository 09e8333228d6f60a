//! Maps a dotted path (`spec.tikv.replicas`) to where it is written in the YAML text.
//!
//! serde tells us *what* is wrong with a value after deserialization, but not *where*
//! that value was written. yaml_serde reports positions only for its own parse and type
//! errors; for the semantic checks in [`super::validate`] we walk the document once with
//! a position-aware event parser and remember the line and column of every key and value.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Positions of every key and value in a YAML document, by dotted path.
#[derive(Debug, Default)]
pub(crate) struct PositionIndex {
    keys: HashMap<String, Position>,
    values: HashMap<String, Position>,
    scalars: Vec<(String, String, Position)>,
}

impl PositionIndex {
    /// Indexes `text`. A document that does not parse yields an empty index; the
    /// deserializer reports that error with its own position.
    pub(crate) fn build(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut builder, false);
        builder.index
    }

    /// Where the value at `path` starts, else where its key is, else where the closest
    /// written ancestor is (a defaulted field has no position of its own).
    pub(crate) fn locate(&self, path: &str) -> Option<Position> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.values.get(&p).or_else(|| self.keys.get(&p)) {
                return Some(*pos);
            }
            match p.rfind('.') {
                Some(i) => p.truncate(i),
                None => return None,
            }
        }
    }

    /// Where the key of `path` is written.
    pub(crate) fn key(&self, path: &str) -> Option<Position> {
        self.keys.get(path).copied()
    }
}

enum Frame {
    Map {
        path: String,
        pending_key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    index: PositionIndex,
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

fn pos(mark: Marker) -> Position {
    Position {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl Builder {
    /// Called for every node; returns the path of the node if it is a value (not a key).
    fn node(&mut self, mark: Marker, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = join(path, &next.to_string());
                *next += 1;
                self.index.values.insert(p.clone(), pos(mark));
                Some(p)
            }
            Some(Frame::Map { path, pending_key }) => match pending_key.take() {
                None => {
                    // This node is a key.
                    let key = scalar.unwrap_or("?").to_string();
                    let p = join(path, &key);
                    self.index.keys.insert(p, pos(mark));
                    *pending_key = Some(key);
                    None
                }
                Some(key) => {
                    let p = join(path, &key);
                    self.index.values.insert(p.clone(), pos(mark));
                    Some(p)
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(ref s, ..) => {
                if let Some(path) = self.node(mark, Some(s)) {
                    self.index.scalars.push((path, s.clone(), pos(mark)));
                }
            }
            Event::Alias(_) => {
                self.node(mark, None);
            }
            Event::MappingStart(..) => {
                let path = self.node(mark, None).unwrap_or_default();
                self.stack.push(Frame::Map {
                    path,
                    pending_key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.node(mark, None).unwrap_or_default();
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_keys_are_located_with_one_based_lines_and_columns() {
        let text =
            "metadata:\n  name: demo\nspec:\n  tikv:\n    replicas: 2\n  list:\n    - a\n    - b\n";
        let idx = PositionIndex::build(text);
        assert_eq!(
            idx.locate("metadata.name"),
            Some(Position { line: 2, column: 9 })
        );
        assert_eq!(
            idx.key("spec.tikv.replicas"),
            Some(Position { line: 5, column: 5 })
        );
        assert_eq!(
            idx.locate("spec.tikv.replicas"),
            Some(Position {
                line: 5,
                column: 15
            })
        );
        assert_eq!(
            idx.locate("spec.list.1"),
            Some(Position { line: 8, column: 7 })
        );
    }

    #[test]
    fn a_defaulted_field_is_located_at_its_closest_written_ancestor() {
        let text = "spec:\n  pd:\n    replicas: 1\n";
        let idx = PositionIndex::build(text);
        assert_eq!(idx.locate("spec.pd.image"), idx.locate("spec.pd"));
    }
}
