// SPDX-License-Identifier: Apache-2.0
// HadamardTransform: T_n = (H_K ⊗ H_{n/K}) / √n for n = K·2^m (QuaRot's get_hadK), in one pass per row.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/hadamard/cpu/kernels.hpp"
#include "dfrot/hadamard/fwht.hpp"
#include "dfrot/hadamard/special_matrices.hpp"

namespace dfrot::hadamard {

/// K candidates in the order they are tried: QuaRot's list, with SpinQuant's 44 after 28 and
/// DFRot's 148 last (ALGORITHMS.md §1.5). The first K with n % K == 0 and n / K a power of two wins.
inline constexpr std::array<std::size_t, 13> kFactorSearchOrder = {
    172, 156, 140, 108, 60, 52, 36, 28, 44, 40, 20, 12, 148};

/// n = k · m with m a power of two (k = 1 for powers of two).
struct Factorization {
  std::size_t k = 1;
  std::size_t m = 1;
};

/// The factorization T_n uses, or nullopt when n is not K·2^m for a supported K.
inline std::optional<Factorization> factorize(std::size_t n) {
  if (n == 0) return std::nullopt;
  for (std::size_t k : kFactorSearchOrder) {
    if (n % k == 0 && std::has_single_bit(n / k)) return Factorization{k, n / k};
  }
  if (std::has_single_bit(n)) return Factorization{1, n};
  return std::nullopt;
}

/// True when T_n exists exactly (n = K·2^m with a supported K, or a power of two).
inline bool is_supported_size(std::size_t n) { return factorize(n).has_value(); }

/// The closest supported sizes below and above n (0 when none below).
inline std::array<std::size_t, 2> nearest_supported_sizes(std::size_t n) {
  std::size_t below = 0, above = ~std::size_t{0};
  auto consider = [&](std::size_t s) {
    if (s < n) below = std::max(below, s);
    if (s > n) above = std::min(above, s);
  };
  std::array<std::size_t, kFactorSearchOrder.size() + 1> ks{};
  std::copy(kFactorSearchOrder.begin(), kFactorSearchOrder.end(), ks.begin());
  ks.back() = 1;
  for (std::size_t k : ks) {
    for (std::size_t s = k; s <= (std::size_t{1} << 62) / 2; s *= 2) {
      consider(s);
      if (s > n) break;
    }
  }
  return {below, above};
}

/// The largest supported size that divides n (the block of the block-diagonal fallback); 1 if none.
/// Walks the supported sizes K·2^m ≤ n (a few hundred) instead of the divisors of n, so it is fast
/// and cannot overflow for any n.
inline std::size_t largest_supported_divisor(std::size_t n) {
  std::size_t best = 1;
  auto consider_multiples_of = [&](std::size_t k) {
    for (std::size_t s = k; s <= n; s *= 2) {
      if (n % s == 0) best = std::max(best, s);
      if (s > n / 2) break;  // s·2 would exceed n (or wrap)
    }
  };
  for (std::size_t k : kFactorSearchOrder) consider_multiples_of(k);
  consider_multiples_of(1);
  return best;
}

/// Which transform to use when n has no exact T_n.
enum class Fallback {
  kNone,           ///< throw ShapeError naming n and the nearest supported sizes
  kBlockDiagonal,  ///< diag(T_b, …, T_b) with b the largest supported divisor of n
};

/// Whether to apply T or Tᵀ.
enum class Transpose { kNo, kYes };

/// The orthogonal transform T_n of QuaRot's online Hadamards (and of the randomized Hadamard
/// rotation), applied to vectors, row batches and matrices without forming T_n. For a row vector
/// convention, apply_rows computes X ← X·Tᵀ (every row u ↦ T·u) and apply_cols computes M ← T·M.
class HadamardTransform {
 public:
  /// Largest n (2²⁸: a 1 GiB float32 row; model sizes are ≤ 2¹⁵).
  static constexpr std::size_t kMaxSize = std::size_t{1} << 28;

  /// Exact T_n. \throws ShapeError when n is not K·2^m (the message names the nearest sizes).
  explicit HadamardTransform(std::size_t n) : HadamardTransform(n, Fallback::kNone) {}

  HadamardTransform(std::size_t n, Fallback fallback) : n_(n), block_(n) {
    DFROT_THROW_IF(n == 0, ShapeError, "hadamard transform: size 0");
    DFROT_THROW_IF(n > kMaxSize, ShapeError, "hadamard transform: size ", n,
                   " exceeds the limit of ", kMaxSize);
    std::optional<Factorization> f = factorize(n);
    if (!f && fallback == Fallback::kBlockDiagonal) {
      block_ = largest_supported_divisor(n);
      DFROT_THROW_IF(block_ < 2, ShapeError, "hadamard transform: size ", n,
                     " has no supported divisor > 1 for a block-diagonal Hadamard");
      f = factorize(block_);
    }
    if (!f) {
      auto const [below, above] = nearest_supported_sizes(n);
      throw ShapeError(str_cat("hadamard transform: size ", n,
                               " is not K·2^m for a supported K (K in 12, 20, 28, 36, 40, 44, 52, "
                               "60, 108, 140, 148, 156, 172); nearest supported sizes: ",
                               below, " and ", above,
                               "; opt in to Fallback::kBlockDiagonal (block ",
                               largest_supported_divisor(n),
                               ") or a dense random orthogonal transform"));
    }
    k_ = f->k;
    m_ = f->m;
    if (k_ > 1) {
      auto const h = special_hadamard(k_);
      // Factor out Sylvester doublings H_K = [[A, A], [A, −A]]: the outer levels cost 1 add each
      // instead of K/2 FMAs per element (QuaRot's had40 is the doubling of had20).
      k0_ = k_;
      while (k0_ % 2 == 0 && is_doubling(h, k_, k0_)) {
        k0_ /= 2;
        ++levels_;
      }
      signs_f_.resize(k0_ * k0_);
      signs_d_.resize(k0_ * k0_);
      signs_ft_.resize(k0_ * k0_);
      signs_dt_.resize(k0_ * k0_);
      for (std::size_t r = 0; r < k0_; ++r) {
        for (std::size_t c = 0; c < k0_; ++c) {
          double const s = h[r * k_ + c];
          signs_d_[r * k0_ + c] = s;
          signs_f_[r * k0_ + c] = static_cast<float>(s);
          signs_dt_[c * k0_ + r] = s;
          signs_ft_[c * k0_ + r] = static_cast<float>(s);
        }
      }
    }
  }

  /// n.
  std::size_t size() const { return n_; }
  /// The block length T is applied to (n unless block-diagonal).
  std::size_t block_size() const { return block_; }
  bool is_block_diagonal() const { return block_ != n_; }
  /// K of the block's factorization (1 for powers of two).
  std::size_t k() const { return k_; }
  /// 2^m of the block's factorization.
  std::size_t m() const { return m_; }
  /// True when T = Tᵀ (K = 1, or a symmetric special matrix).
  bool is_symmetric() const {
    if (k_ == 1) return true;
    return signs_d_ == signs_dt_;
  }

  /// "T_4096 = (H_1 ⊗ H_4096)/√4096" style description, naming the construction of H_K.
  std::string description() const {
    std::string s = str_cat("T_", block_, " = (H_", k_, " ⊗ H_", m_, ")/√", block_);
    if (k_ > 1) s += str_cat(" [H_", k_, ": ", special_hadamard_construction(k_), "]");
    if (is_block_diagonal()) s = str_cat("block-diagonal ", n_ / block_, " × ", s);
    return s;
  }

  /// Every row u of `rows` becomes T·u (or Tᵀ·u); i.e. X ← X·Tᵀ (or X·T). Rows split over threads.
  template <HadamardElement T>
  void apply_rows(MatrixView<T> rows, Transpose transpose = Transpose::kNo,
                  int n_threads = 1) const {
    DFROT_THROW_IF(rows.cols() != n_, ShapeError, "hadamard transform: rows have ", rows.cols(),
                   " columns but the transform has size ", n_);
    T const scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(block_)));
    T const* signs = sign_table<T>(transpose);
    std::size_t const blocks = n_ / block_;
    dispatch_isa<cpu::kHadamardIsas>(active_isa(), [&]<Isa I>() {
      parallel_for(rows.rows(), n_threads, 8, [&](std::size_t begin, std::size_t end) {
        // Per thread and reused: the fused Hadamard + quantize calls this once per row block.
        thread_local std::vector<T> scratch;
        std::size_t const need = 2 * std::max<std::size_t>(k0_, 1) * 16;
        if (scratch.size() < need) scratch.resize(need);
        for (std::size_t r = begin; r < end; ++r) {
          for (std::size_t b = 0; b < blocks; ++b) {
            T* const x = rows.row(r) + b * block_;
            cpu::Kernels<I, T>::hadamard_row(x, x, block_, k0_, levels_, signs, scale,
                                              scratch.data());
          }
        }
      });
    });
  }

  /// One row at a time, out of place, for callers that consume each transformed row at once (the
  /// fused Hadamard + quantize of gemm::quantize_activations_for_gemm): the ISA level and sign
  /// table are chosen when the kernel is made, so a call costs only the transform. Same bits as
  /// apply_rows. Copyable; calls on several threads are safe (the scratch is per thread).
  class RowKernel {
   public:
    /// dst ← T·src (or Tᵀ·src), n = size() floats each; src and dst must not overlap.
    void operator()(float const* src, float* dst) const noexcept {
      thread_local std::vector<float> scratch;  // grows once per thread, then reused
      if (scratch.size() < scratch_) scratch.resize(scratch_);
      for (std::size_t b = 0; b < blocks_; ++b)
        fn_(src + b * block_, dst + b * block_, block_, k0_, levels_, signs_, scale_,
            scratch.data());
    }
    std::size_t size() const { return blocks_ * block_; }

   private:
    friend class HadamardTransform;
    using Fn = void (*)(float const*, float*, std::size_t, std::size_t, int, float const*, float,
                        float*);
    Fn fn_ = nullptr;
    std::size_t block_ = 0, blocks_ = 0, k0_ = 1, scratch_ = 0;
    int levels_ = 0;
    float const* signs_ = nullptr;
    float scale_ = 1.0f;
  };

  /// The row kernel of T (or Tᵀ) for float rows at the active ISA level; valid while *this lives.
  RowKernel row_kernel(Transpose transpose = Transpose::kNo) const {
    RowKernel k;
    dispatch_isa<cpu::kHadamardIsas>(active_isa(), [&]<Isa I>() {
      k.fn_ = &cpu::Kernels<I, float>::hadamard_row;
    });
    k.block_ = block_;
    k.blocks_ = n_ / block_;
    k.k0_ = k0_;
    k.levels_ = levels_;
    k.signs_ = sign_table<float>(transpose);
    k.scale_ = static_cast<float>(1.0 / std::sqrt(static_cast<double>(block_)));
    k.scratch_ = 2 * std::max<std::size_t>(k0_, 1) * 16;
    return k;
  }

  /// x ← T·x (or Tᵀ·x) for one vector.
  template <HadamardElement T>
  void apply(std::span<T> x, Transpose transpose = Transpose::kNo) const {
    apply_rows(MatrixView<T>(x), transpose, 1);
  }

  /// M ← T·M (or Tᵀ·M) for an n×c matrix: column panels are transposed into a buffer, transformed
  /// as rows and written back, so M is read and written once.
  template <HadamardElement T>
  void apply_cols(MatrixView<T> matrix, Transpose transpose = Transpose::kNo,
                  int n_threads = 1) const {
    DFROT_THROW_IF(matrix.rows() != n_, ShapeError, "hadamard transform: matrix has ",
                   matrix.rows(), " rows but the transform has size ", n_);
    constexpr std::size_t kPanel = 16;
    std::size_t const n_panels = (matrix.cols() + kPanel - 1) / kPanel;
    parallel_for(n_panels, n_threads, 1, [&](std::size_t begin, std::size_t end) {
      std::vector<T> panel(kPanel * n_);
      for (std::size_t p = begin; p < end; ++p) {
        std::size_t const c0 = p * kPanel;
        std::size_t const width = std::min(kPanel, matrix.cols() - c0);
        for (std::size_t r = 0; r < n_; ++r) {
          for (std::size_t c = 0; c < width; ++c) panel[c * n_ + r] = matrix(r, c0 + c);
        }
        apply_rows(MatrixView<T>(panel.data(), width, n_), transpose, 1);
        for (std::size_t r = 0; r < n_; ++r) {
          for (std::size_t c = 0; c < width; ++c) matrix(r, c0 + c) = panel[c * n_ + r];
        }
      }
    });
  }

  /// T (or Tᵀ) as a dense row-major n×n matrix in double (tests, fusion into weights).
  std::vector<double> dense(Transpose transpose = Transpose::kNo) const {
    std::vector<double> t(n_ * n_, 0.0);
    for (std::size_t i = 0; i < n_; ++i) t[i * n_ + i] = 1.0;
    // Row i of I becomes (T·e_i)ᵀ = column i of T: the result is Tᵀ; ask for the other one.
    apply_rows(MatrixView<double>(t.data(), n_, n_),
               transpose == Transpose::kNo ? Transpose::kYes : Transpose::kNo, 1);
    return t;
  }

 private:
  static bool is_doubling(std::span<std::int8_t const> h, std::size_t k, std::size_t half) {
    std::size_t const q = half / 2;
    for (std::size_t r = 0; r < q; ++r) {
      for (std::size_t c = 0; c < q; ++c) {
        int const a = h[r * k + c];
        if (h[r * k + c + q] != a || h[(r + q) * k + c] != a || h[(r + q) * k + c + q] != -a)
          return false;
      }
    }
    return true;
  }

  template <class T>
  T const* sign_table(Transpose transpose) const {
    bool const t = transpose == Transpose::kYes;
    if constexpr (std::is_same_v<T, float>) {
      return t ? signs_ft_.data() : signs_f_.data();
    } else {
      return t ? signs_dt_.data() : signs_d_.data();
    }
  }

  std::size_t n_ = 0;
  std::size_t block_ = 0;
  std::size_t k_ = 1;
  std::size_t m_ = 1;
  std::size_t k0_ = 1;  // K with the Sylvester doublings factored out
  int levels_ = 0;      // number of doublings: K = k0_ · 2^levels_
  std::vector<float> signs_f_, signs_ft_;
  std::vector<double> signs_d_, signs_dt_;
};

}  // namespace dfrot::hadamard
