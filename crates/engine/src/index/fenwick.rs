//! A Fenwick (binary indexed) tree of non-negative weights: O(log n) point
//! updates, prefix sums and "find the position holding the k-th unit". It
//! backs round-robin (next available at or after a cursor), uniform random
//! and weighted random selection, and failover order, all in O(log n).

/// Weights by position with prefix sums.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fenwick {
    tree: Vec<u64>,
    values: Vec<u64>,
    total: u64,
}

impl Fenwick {
    /// Builds the tree in O(n) from initial values.
    pub fn from_values(values: Vec<u64>) -> Fenwick {
        let n = values.len();
        let mut tree = vec![0u64; n + 1];
        let mut total = 0u64;
        for (i, &v) in values.iter().enumerate() {
            total += v;
            let k = i + 1;
            tree[k] += v;
            let parent = k + (k & k.wrapping_neg());
            if parent <= n {
                tree[parent] += tree[k];
            }
        }
        Fenwick {
            tree,
            values,
            total,
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn get(&self, pos: usize) -> u64 {
        self.values[pos]
    }

    /// Sets the weight at `pos`, returning the old one.
    pub fn set(&mut self, pos: usize, value: u64) -> u64 {
        let old = self.values[pos];
        if old == value {
            return old;
        }
        self.values[pos] = value;
        self.total = self.total - old + value;
        let mut k = pos + 1;
        while k < self.tree.len() {
            self.tree[k] = self.tree[k] - old + value;
            k += k & k.wrapping_neg();
        }
        old
    }

    /// Sum of the weights at positions `0..pos`.
    pub fn prefix(&self, pos: usize) -> u64 {
        let mut k = pos.min(self.values.len());
        let mut sum = 0;
        while k > 0 {
            sum += self.tree[k];
            k &= k - 1;
        }
        sum
    }

    /// The position `p` with `prefix(p) <= target < prefix(p + 1)`; `None` when
    /// `target >= total()`.
    pub fn find(&self, target: u64) -> Option<usize> {
        if target >= self.total {
            return None;
        }
        let n = self.values.len();
        let mut pos = 0usize;
        let mut remaining = target;
        let mut step = if n == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= remaining {
                pos = next;
                remaining -= self.tree[next];
            }
            step >>= 1;
        }
        Some(pos)
    }

    /// The first position at or after `start` with a non-zero weight,
    /// wrapping around to the beginning.
    pub fn next_nonzero_from(&self, start: usize) -> Option<usize> {
        let before = self.prefix(start);
        self.find(before).or_else(|| self.find(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_and_prefix_agree_with_a_linear_scan() {
        let values: Vec<u64> = (0..37).map(|i| (i * 7 % 5) as u64).collect();
        let mut f = Fenwick::from_values(values.clone());
        f.set(3, 9);
        let mut v = values;
        v[3] = 9;
        let total: u64 = v.iter().sum();
        assert_eq!(f.total(), total);
        for target in 0..total {
            let mut acc = 0;
            let expected = v.iter().position(|&w| {
                acc += w;
                acc > target
            });
            assert_eq!(f.find(target), expected, "target {target}");
        }
        assert_eq!(f.find(total), None);
        assert_eq!(f.prefix(5), v[..5].iter().sum::<u64>());
    }

    #[test]
    fn next_nonzero_wraps() {
        let f = Fenwick::from_values(vec![0, 1, 0, 0, 1, 0]);
        assert_eq!(f.next_nonzero_from(0), Some(1));
        assert_eq!(f.next_nonzero_from(2), Some(4));
        assert_eq!(f.next_nonzero_from(5), Some(1));
        assert_eq!(Fenwick::from_values(vec![0, 0]).next_nonzero_from(1), None);
    }
}
