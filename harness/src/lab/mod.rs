//! The lab: network namespaces, veth links, addresses, pods; the only module that touches namespaces.

pub mod netns;
