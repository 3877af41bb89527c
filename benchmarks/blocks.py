"""Speed of the shared blocks against dense attention, measured side by side in one run.

1. SimpleGVR's SparseLocalAttention vs dense SDPA at >= 6,000 tokens (4 latent frames of
   36x48 tokens = 64 blocks of 9x12, k = 1), and how both scale when the token count doubles.
2. LiftVSR's TokenFlowAttention (every frame as reference) vs a full spatio-temporal attention
   layer over the same 8-frame segment, and how both scale with the frame size.
3. Two steps of the DTA at the tiny LiftVSR's streaming shape: the key/value warp (one
   ``flow_warp`` call for every reference vs a copy of each frame per reference) and the
   attention over the aligned keys (``TokenFlowAttention.temporal_attention``: dot products and
   weighted sums along H*W vs copying keys and values into (problem, T, d) order for SDPA).

Timings are the best of ``--repeats`` runs after a warm-up, alternating the contenders so load
from other processes hits both. Prints ratios and writes results/blocks.json.

    python benchmarks/blocks.py [--repeats 7] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.blocks import TokenFlowAttention, flow_warp, sparse_local_attention


def best_times(fns: dict, repeats: int) -> dict[str, dict[str, float]]:
    """Best wall time and best process CPU time of each callable, interleaving them run by run.

    On a shared machine other processes stretch wall time; CPU time (summed over this process's
    threads) measures the work itself and is the fairer ratio there. Both are reported.
    """
    for fn in fns.values():
        fn()
    best = {name: {"wall": float("inf"), "cpu": float("inf")} for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            best[name]["wall"] = min(best[name]["wall"], time.perf_counter() - wall)
            best[name]["cpu"] = min(best[name]["cpu"], time.process_time() - cpu)
    return best


def ratios(times: dict, fast: str, slow: str) -> dict:
    """Both timings of two contenders and the slow/fast speedup by wall and by CPU time."""
    return {
        f"{fast}_wall_s": times[fast]["wall"],
        f"{slow}_wall_s": times[slow]["wall"],
        f"{fast}_cpu_s": times[fast]["cpu"],
        f"{slow}_cpu_s": times[slow]["cpu"],
        "speedup_wall": times[slow]["wall"] / times[fast]["wall"],
        "speedup_cpu": times[slow]["cpu"] / times[fast]["cpu"],
    }


def scaling(rows: list[dict], key: str, i: int, j: int) -> dict:
    return {clock: rows[j][f"{key}_{clock}_s"] / rows[i][f"{key}_{clock}_s"] for clock in ("wall", "cpu")}


def bench_sparse(repeats: int, heads: int = 8, head_dim: int = 64) -> dict:
    block, top_k = (9, 12), 1
    rows = []
    for grid in [(4, 36, 48), (8, 36, 48)]:
        n = grid[0] * grid[1] * grid[2]
        q, k, v = (torch.randn(1, heads, n, head_dim) for _ in range(3))
        times = best_times(
            {
                "sparse": lambda q=q, k=k, v=v, grid=grid: sparse_local_attention(
                    q, k, v, grid, block, top_k
                ),
                "dense": lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v),
            },
            repeats,
        )
        attended = (1 + top_k) * block[0] * block[1]
        rows.append(
            {"grid": grid, "tokens": n, "flop_ratio": attended / n, **ratios(times, "sparse", "dense")}
        )
    return {
        "rows": rows,
        "sparse_scaling_2x_tokens": scaling(rows, "sparse", 0, 1),
        "dense_scaling_2x_tokens": scaling(rows, "dense", 0, 1),
    }


class FullAttentionLayer(nn.Module):
    """Pre-norm spatio-temporal self-attention over all tokens of a segment, plus an FFN."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h, w, c = x.shape
        tokens = x.reshape(b, t * h * w, c)
        q, k, v = (
            self.qkv(self.norm1(tokens)).view(b, -1, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        )
        y = tokens + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, -1, c))
        return (y + self.ffn(self.norm2(y))).view_as(x)


def bench_token_flow(repeats: int, dim: int = 128, heads: int = 4, frames: int = 8) -> dict:
    torch.manual_seed(0)
    dta = TokenFlowAttention(dim, heads)
    full = FullAttentionLayer(dim, heads)
    rows = []
    for size in [(16, 16), (32, 32), (48, 48)]:
        x = torch.randn(1, frames, *size, dim)
        times = best_times({"token_flow": lambda x=x: dta(x), "full": lambda x=x: full(x)}, repeats)
        rows.append(
            {
                "frames": frames,
                "frame_size": size,
                "tokens": frames * size[0] * size[1],
                **ratios(times, "token_flow", "full"),
            }
        )
    return {
        "rows": rows,
        "token_flow_scaling_16_to_32": scaling(rows, "token_flow", 0, 1),
        "full_scaling_16_to_32": scaling(rows, "full", 0, 1),
        "token_flow_scaling_32_to_48": scaling(rows, "token_flow", 1, 2),
        "full_scaling_32_to_48": scaling(rows, "full", 1, 2),
    }


def bench_warp(
    repeats: int, tiles: int = 9, frames: int = 4, size: int = 32, heads: int = 4, head_dim: int = 48
) -> dict:
    """DTA's key/value warp at the tiny LiftVSR's streaming shape (9 latent tiles of 32 x 32, 4-frame
    segments, 4 heads, keys and values together): every reference's flows in one ``flow_warp`` call
    (K flows per image, what TokenFlowAttention does) against a copy of each frame per reference
    (the previous code), both followed by the layout attention reads. The outputs are equal."""
    torch.manual_seed(0)
    b, t, r, nh, d, h, w = tiles, frames, frames, heads, head_dim, size, size
    tokens = torch.randn(b, t, h, w, nh, d)
    flow = torch.randn(b, r, t, nh, 2, h, w)

    def copies():
        frames_ = tokens.permute(0, 1, 4, 5, 2, 3).unsqueeze(1).expand(b, r, t, nh, d, h, w)
        out = flow_warp(frames_.reshape(-1, d, h, w), flow.reshape(-1, 2, h, w)).view(b, r, t, nh, d, h, w)
        return out.permute(0, 1, 5, 6, 3, 2, 4).reshape(-1, t, d)

    def one_call():
        frames_ = tokens.permute(0, 1, 4, 5, 2, 3).reshape(b * t * nh, d, h, w)
        flows = flow.permute(0, 2, 3, 1, 4, 5, 6).reshape(b * t * nh, r, 2, h, w)
        out = flow_warp(frames_, flows).unflatten(0, (b, t, nh)).permute(0, 3, 1, 2, 4, 5, 6)
        return out.permute(0, 1, 5, 6, 3, 2, 4).reshape(-1, t, d)

    assert torch.equal(copies(), one_call())
    return {
        "shape": [b, t, h, w, nh, d],
        **ratios(best_times({"one_call": one_call, "copies": copies}, repeats), "one_call", "copies"),
    }


def bench_dta_attention(
    repeats: int, tiles: int = 2, frames: int = 4, size: int = 32, heads: int = 4, head_dim: int = 24
) -> dict:
    """The DTA's attention over the warped keys at the tiny LiftVSR's streaming shape (2 latent tiles
    of 32 x 32 per call, 4-frame segments, every frame a reference, 4 heads of 24): one query against
    4 keys per token, head and reference. ``temporal_attention`` (what TokenFlowAttention runs)
    against SDPA after copying keys and values into (problem, T, d) order (the previous code), both
    ending channels-first, the layout attn_proj reads. The outputs agree to float rounding."""
    torch.manual_seed(0)
    b, r, t, nh, d, h, w = tiles, frames, frames, heads, head_dim, size, size
    q = torch.randn(b, r, h, w, nh, d)
    # keys and values as the warp leaves them: (B, R, T, h, d, H, W) views of one (B, T, h, R, 2d, H, W) tensor
    k, v = torch.randn(b, t, nh, r, 2 * d, h, w).permute(0, 3, 1, 2, 4, 5, 6).chunk(2, dim=4)

    def sdpa():
        keys, values = (z.permute(0, 1, 5, 6, 3, 2, 4).reshape(-1, 1, t, d) for z in (k, v))
        out = F.scaled_dot_product_attention(q.reshape(-1, 1, 1, d), keys, values)
        return out.view(b, r, h, w, nh * d).permute(0, 1, 4, 2, 3)

    def ours():
        return TokenFlowAttention.temporal_attention(q, k, v)

    torch.testing.assert_close(ours(), sdpa(), rtol=0, atol=1e-5)
    return {
        "shape": [b, r, t, h, w, nh, d],
        **ratios(best_times({"ours": ours, "sdpa": sdpa}, repeats), "ours", "sdpa"),
    }


def print_report(sparse: dict, token_flow: dict, warp: dict, dta_attention: dict) -> None:
    print("SparseLocalAttention (blocks 9x12, k=1, 8 heads x 64) vs dense SDPA, fp32 CPU; wall | CPU time")
    for r in sparse["rows"]:
        print(
            f"  {r['tokens']:6d} tokens {r['grid']}: sparse {r['sparse_wall_s'] * 1e3:7.1f} | {r['sparse_cpu_s'] * 1e3:7.1f} ms"
            f"  dense {r['dense_wall_s'] * 1e3:7.1f} | {r['dense_cpu_s'] * 1e3:7.1f} ms"
            f"  speedup x{r['speedup_wall']:.1f} | x{r['speedup_cpu']:.1f}  (FLOP ratio 1/{1 / r['flop_ratio']:.0f})"
        )
    s, d = sparse["sparse_scaling_2x_tokens"], sparse["dense_scaling_2x_tokens"]
    print(
        f"  tokens x2: sparse time x{s['wall']:.2f} | x{s['cpu']:.2f}, dense time x{d['wall']:.2f} | x{d['cpu']:.2f}"
    )
    print("TokenFlowAttention (every frame as reference) vs full spatio-temporal attention, dim 128, 4 heads")
    for r in token_flow["rows"]:
        print(
            f"  {r['tokens']:6d} tokens, 8 x {r['frame_size']}: token-flow {r['token_flow_wall_s'] * 1e3:7.1f} |"
            f" {r['token_flow_cpu_s'] * 1e3:7.1f} ms  full {r['full_wall_s'] * 1e3:7.1f} | {r['full_cpu_s'] * 1e3:7.1f} ms"
            f"  speedup x{r['speedup_wall']:.2f} | x{r['speedup_cpu']:.2f}"
        )
    print(
        f"DTA key/value warp {warp['shape']}: one flow_warp call {warp['one_call_wall_s'] * 1e3:.1f} |"
        f" {warp['one_call_cpu_s'] * 1e3:.1f} ms, a copy per reference {warp['copies_wall_s'] * 1e3:.1f} |"
        f" {warp['copies_cpu_s'] * 1e3:.1f} ms: speedup x{warp['speedup_wall']:.2f} | x{warp['speedup_cpu']:.2f}"
    )
    a = dta_attention
    print(
        f"DTA attention over aligned keys {a['shape']}: temporal_attention {a['ours_wall_s'] * 1e3:.1f} |"
        f" {a['ours_cpu_s'] * 1e3:.1f} ms, copy into SDPA order + SDPA {a['sdpa_wall_s'] * 1e3:.1f} |"
        f" {a['sdpa_cpu_s'] * 1e3:.1f} ms: speedup x{a['speedup_wall']:.2f} | x{a['speedup_cpu']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("results/blocks.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with torch.inference_mode():
        sparse = bench_sparse(args.repeats)
        token_flow = bench_token_flow(args.repeats)
        warp = bench_warp(args.repeats)
        dta_attention = bench_dta_attention(args.repeats)
    print_report(sparse, token_flow, warp, dta_attention)
    results = {
        "device": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "dtype": "float32",
        "repeats": args.repeats,
        "sparse_local_attention": sparse,
        "token_flow_attention": token_flow,
        "token_flow_warp": warp,
        "dta_attention": dta_attention,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
