//! The audit log as a Merkle tree (RFC 9162, section 2.1): leaf and node
//! hashes, the tree's root, inclusion and consistency proofs, and their
//! verification.
//!
//! The tree is kept as its *perfect* subtrees: the node at level `l` and
//! index `i` is the root of leaves `i * 2^l .. (i + 1) * 2^l`, stored once
//! complete and never changed. Any hash a proof needs is the hash of a
//! range of leaves `[start, end)` whose start is a multiple of the largest
//! power of two not above its length, so it folds from at most `log2(n)`
//! stored nodes (`Range::nodes`). A proof is therefore computed in two
//! steps: the ranges it needs (`inclusion_ranges`, `consistency_ranges`),
//! then their hashes from the stored nodes (`Range::hash`), which a store
//! reads in one query.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree: `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A perfect subtree: `level` and `index` name leaves
/// `index * 2^level .. (index + 1) * 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub level: u32,
    pub index: u64,
}

impl Node {
    /// One integer per node, for a store's key: the level in the top byte.
    pub fn key(self) -> i64 {
        ((self.level as i64) << 56) | self.index as i64
    }

    pub fn from_key(key: i64) -> Node {
        Node {
            level: (key >> 56) as u32,
            index: (key & ((1 << 56) - 1)) as u64,
        }
    }
}

/// The largest power of two strictly below `n` (n > 1).
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// A range of leaves `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    /// The perfect subtrees the range is made of, left to right, largest
    /// first.
    pub fn nodes(self) -> Vec<Node> {
        let mut nodes = Vec::new();
        let mut at = self.start;
        while at < self.end {
            let left = self.end - at;
            // The largest power of two that fits and that `at` is aligned to.
            let mut level = 63 - left.leading_zeros();
            while !at.is_multiple_of(1u64 << level) {
                level -= 1;
            }
            nodes.push(Node {
                level,
                index: at >> level,
            });
            at += 1 << level;
        }
        nodes
    }

    /// The Merkle tree hash of the range, from its perfect subtrees'
    /// hashes: the subtrees folded right to left, as RFC 9162's recursive
    /// definition gives for a range that starts aligned.
    pub fn hash(self, node: impl Fn(Node) -> Option<Hash>) -> Option<Hash> {
        if self.start == self.end {
            return Some(empty_root());
        }
        let nodes = self.nodes();
        let mut hashes = nodes.iter().rev().map(|n| node(*n));
        let mut acc = hashes.next()??;
        for left in hashes {
            acc = node_hash(&left?, &acc);
        }
        Some(acc)
    }
}

/// The ranges whose hashes make the inclusion proof of leaf `index` in the
/// tree of `size` leaves, in proof order (RFC 9162, 2.1.3.1, PATH).
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<Range> {
    fn path(m: u64, start: u64, n: u64, out: &mut Vec<Range>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(m, start, k, out);
            out.push(Range {
                start: start + k,
                end: start + n,
            });
        } else {
            path(m - k, start + k, n - k, out);
            out.push(Range {
                start,
                end: start + k,
            });
        }
    }
    let mut out = Vec::new();
    if index < size {
        path(index, 0, size, &mut out);
    }
    out
}

/// The ranges whose hashes make the consistency proof between the trees
/// of `old` and `new` leaves, in proof order (RFC 9162, 2.1.4.1, PROOF).
pub fn consistency_ranges(old: u64, new: u64) -> Vec<Range> {
    fn subproof(m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<Range>) {
        if m == n {
            if !whole {
                out.push(Range {
                    start,
                    end: start + n,
                });
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, start, k, whole, out);
            out.push(Range {
                start: start + k,
                end: start + n,
            });
        } else {
            subproof(m - k, start + k, n - k, false, out);
            out.push(Range {
                start,
                end: start + k,
            });
        }
    }
    let mut out = Vec::new();
    if 0 < old && old < new {
        subproof(old, 0, new, true, &mut out);
    }
    out
}

/// The nodes a tree of `size` leaves adds when it grows by `leaves` (their
/// leaf hashes), given its right edge (`frontier(size)`'s hashes, left to
/// right): the new nodes, the leaves among them, in the order they
/// complete.
pub fn append(size: u64, edge: &[Hash], leaves: &[Hash]) -> Vec<(Node, Hash)> {
    // The right edge as a stack of (level, hash), largest on the bottom.
    let mut stack: Vec<(u32, Hash)> = frontier(size)
        .iter()
        .zip(edge)
        .map(|(n, h)| (n.level, *h))
        .collect();
    let mut out = Vec::new();
    for (index, leaf) in (size..).zip(leaves) {
        out.push((Node { level: 0, index }, *leaf));
        let mut carry = (0u32, *leaf);
        let mut at = index;
        while let Some(&(level, left)) = stack.last() {
            if level != carry.0 {
                break;
            }
            stack.pop();
            let hash = node_hash(&left, &carry.1);
            at >>= 1;
            carry = (level + 1, hash);
            out.push((
                Node {
                    level: level + 1,
                    index: at,
                },
                hash,
            ));
        }
        stack.push(carry);
    }
    out
}

/// The right edge of a tree of `size` leaves: the perfect subtrees it is
/// made of, left to right (one per bit of `size`).
pub fn frontier(size: u64) -> Vec<Node> {
    Range {
        start: 0,
        end: size,
    }
    .nodes()
}

/// Verifies an inclusion proof (RFC 9162, 2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// Verifies a consistency proof (RFC 9162, 2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 || old > new {
        return old == 0 && proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    fr == *old_root && sr == *new_root && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// RFC 9162's MTH, straight from its definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// The stored nodes of a tree grown in `batches`.
    fn grow(batches: &[u64]) -> (u64, HashMap<Node, Hash>) {
        let mut store = HashMap::new();
        let mut size = 0;
        for &b in batches {
            let edge: Vec<Hash> = frontier(size).iter().map(|n| store[n]).collect();
            let new: Vec<Hash> = (size..size + b)
                .map(|i| leaf_hash(&i.to_be_bytes()))
                .collect();
            for (node, hash) in append(size, &edge, &new) {
                assert!(store.insert(node, hash).is_none(), "{node:?} written once");
            }
            size += b;
        }
        (size, store)
    }

    fn hashes(ranges: &[Range], store: &HashMap<Node, Hash>) -> Vec<Hash> {
        ranges
            .iter()
            .map(|r| r.hash(|n| store.get(&n).copied()).expect("stored"))
            .collect()
    }

    #[test]
    fn the_rfc_examples_of_seven_leaves() {
        // RFC 9162, 2.1.5: the tree of seven leaves d0..d6.
        assert_eq!(
            inclusion_ranges(0, 7),
            [
                Range { start: 1, end: 2 },
                Range { start: 2, end: 4 },
                Range { start: 4, end: 7 }
            ]
        );
        assert_eq!(
            inclusion_ranges(3, 7),
            [
                Range { start: 2, end: 3 },
                Range { start: 0, end: 2 },
                Range { start: 4, end: 7 }
            ]
        );
        assert_eq!(
            inclusion_ranges(6, 7),
            [Range { start: 4, end: 6 }, Range { start: 0, end: 4 }]
        );
        assert_eq!(
            consistency_ranges(3, 7),
            [
                Range { start: 2, end: 3 },
                Range { start: 3, end: 4 },
                Range { start: 0, end: 2 },
                Range { start: 4, end: 7 }
            ]
        );
        assert_eq!(consistency_ranges(4, 7), [Range { start: 4, end: 7 }]);
        assert_eq!(
            consistency_ranges(6, 7),
            [
                Range { start: 4, end: 6 },
                Range { start: 6, end: 7 },
                Range { start: 0, end: 4 }
            ]
        );
    }

    #[test]
    fn node_keys_round_trip() {
        for node in [
            Node { level: 0, index: 0 },
            Node {
                level: 3,
                index: 12345,
            },
            Node {
                level: 40,
                index: 1,
            },
        ] {
            assert_eq!(Node::from_key(node.key()), node);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Grown in any batches, the stored nodes give RFC 9162's root,
        /// and every inclusion and consistency proof verifies; a proof
        /// checked against another leaf or root does not.
        #[test]
        fn proofs_from_stored_nodes_verify(batches in prop::collection::vec(1u64..24, 1..6)) {
            let (size, store) = grow(&batches);
            let all = leaves(size);
            let root = Range { start: 0, end: size }.hash(|n| store.get(&n).copied()).unwrap();
            prop_assert_eq!(root, mth(&all));
            for m in 0..size {
                let proof = hashes(&inclusion_ranges(m, size), &store);
                prop_assert!(verify_inclusion(m, size, &all[m as usize], &proof, &root));
                let other = leaf_hash(b"not in the log");
                prop_assert!(!verify_inclusion(m, size, &other, &proof, &root));
            }
            for old in 1..=size {
                let old_root = mth(&all[..old as usize]);
                let proof = hashes(&consistency_ranges(old, size), &store);
                prop_assert!(verify_consistency(old, size, &old_root, &root, &proof));
                let forged = leaf_hash(b"rewritten");
                if old < size {
                    prop_assert!(!verify_consistency(old, size, &forged, &root, &proof));
                }
            }
        }
    }
}
