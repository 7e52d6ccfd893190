// SPDX-License-Identifier: Apache-2.0
// CPU instruction-set levels: detection (cpuid + OS state), the active level, and overrides.
#pragma once

#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dfrot/config.hpp"
#include "dfrot/core/error.hpp"

#if DFROT_X86
#include <cpuid.h>
#endif
#if DFROT_X86 && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace dfrot {

/// Kernel levels, ordered: a level implies every level below it.
/// kAmx is AMX-TILE + AMX-INT8 on top of AVX-512 VNNI (Sapphire Rapids and later), usable only
/// once the OS granted this process the tile-data state.
enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Vnni = 3, kAmx = 4 };

inline constexpr Isa kMaxCompiledIsa = static_cast<Isa>(DFROT_MAX_ISA_LEVEL);

constexpr std::string_view to_string(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Vnni: return "avx512vnni";
    case Isa::kAmx: return "amx";
  }
  return "unknown";
}

/// Parses "scalar|avx2|avx512|avx512vnni|amx" (throws UsageError otherwise).
inline Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni, Isa::kAmx}) {
    if (name == to_string(isa)) return isa;
  }
  throw UsageError(str_cat("isa '", name, "': expected scalar, avx2, avx512, avx512vnni or amx"));
}

namespace detail {

#if DFROT_X86
inline unsigned long long read_xcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

/// Why a CPU with AMX-INT8 does not run the AMX level (empty when it does or has no AMX).
inline std::string& amx_refusal() {
  static std::string reason;
  return reason;
}

/// Linux gives a process the AMX tile-data state only on request (ARCH_REQ_XCOMP_PERM); without
/// it the first tile instruction raises SIGILL. The permission is per process, asked once.
inline bool request_amx_permission() {
#if DFROT_X86 && defined(__linux__)
  constexpr long kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023, kXfeatureTileData = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureTileData) != 0) {
    amx_refusal() = "the kernel refused the AMX tile-data permission (arch_prctl)";
    return false;
  }
  unsigned long long granted = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &granted) != 0 ||
      ((granted >> kXfeatureTileData) & 1u) == 0) {
    amx_refusal() = "arch_prctl did not report the AMX tile-data permission as granted";
    return false;
  }
  return true;
#else
  amx_refusal() = "AMX is only enabled on Linux";
  return false;
#endif
}

inline Isa detect_isa_uncached() {
#if DFROT_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::kScalar;
  bool const osxsave = (c >> 27) & 1u;
  bool const fma = (c >> 12) & 1u;
  bool const f16c = (c >> 29) & 1u;
  if (!osxsave) return Isa::kScalar;
  unsigned long long const xcr0 = read_xcr0();
  bool const os_avx = (xcr0 & 0x6) == 0x6;           // XMM and YMM state
  bool const os_avx512 = (xcr0 & 0xE6) == 0xE6;      // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::kScalar;
  bool const avx2 = (b >> 5) & 1u;
  bool const avx512f = (b >> 16) & 1u, avx512dq = (b >> 17) & 1u;
  bool const avx512bw = (b >> 30) & 1u, avx512vl = (b >> 31) & 1u;
  bool const avx512vnni = (c >> 11) & 1u;
  bool const amx_tile = (d >> 24) & 1u, amx_int8 = (d >> 25) & 1u;
  bool const os_amx = (xcr0 & 0x60000) == 0x60000;  // XTILECFG and XTILEDATA
  if (!(os_avx && avx2 && fma && f16c)) return Isa::kScalar;
  if (!(os_avx512 && avx512f && avx512dq && avx512bw && avx512vl)) return Isa::kAvx2;
  if (!avx512vnni) return Isa::kAvx512;
  if (!(amx_tile && amx_int8)) return Isa::kAvx512Vnni;
  if (!os_amx) {
    amx_refusal() = "the OS does not enable the AMX tile state (XCR0)";
    return Isa::kAvx512Vnni;
  }
  return request_amx_permission() ? Isa::kAmx : Isa::kAvx512Vnni;
#else
  return Isa::kScalar;
#endif
}

inline std::atomic<int>& isa_override() {
  static std::atomic<int> value{-1};
  return value;
}

}  // namespace detail

/// The best level this CPU and OS support (cached).
inline Isa detected_isa() {
  static Isa const isa = detail::detect_isa_uncached();
  return isa;
}

/// Why this CPU's AMX is not used (empty when AMX runs or the CPU has none); say it once.
inline std::string amx_unavailable_reason() {
  (void)detected_isa();
  return detail::amx_refusal();
}

/// The level kernels use: min(detected, compiled, DFROT_ISA env, set_isa override).
inline Isa active_isa() {
  static Isa const from_env = [] {
    Isa isa = detected_isa();
    if (char const* env = std::getenv("DFROT_ISA"); env != nullptr && *env != '\0') {
      Isa const wanted = parse_isa(env);
      if (wanted < isa) isa = wanted;
    }
    return isa < kMaxCompiledIsa ? isa : kMaxCompiledIsa;
  }();
  int const forced = detail::isa_override().load(std::memory_order_relaxed);
  if (forced >= 0 && forced < static_cast<int>(from_env)) return static_cast<Isa>(forced);
  return from_env;
}

/// Caps the active level (for apps' --isa and benchmarks); levels above detection stay unavailable.
inline void set_isa(Isa isa) { detail::isa_override().store(static_cast<int>(isa)); }
inline void reset_isa() { detail::isa_override().store(-1); }

/// Forces a level for a scope (tests and benchmarks), restoring the previous one after.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa) : previous_(detail::isa_override().load()) { set_isa(isa); }
  ~ScopedIsa() { detail::isa_override().store(previous_); }
  ScopedIsa(ScopedIsa const&) = delete;
  ScopedIsa& operator=(ScopedIsa const&) = delete;

 private:
  int previous_;
};

}  // namespace dfrot
