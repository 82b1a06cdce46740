"""The neural networks (torch modules). Every module maps
``hw (B, H)`` normalised hardware, ``x (B, L, F)`` encoded elements and ``mask (B, L)`` to
``(B, R)`` natural-log predictions of the reported targets, in the order of ``reported``.

Units: power in W, latency in ms, energy in mJ, so that energy_mj = P x latency_ms.
"""

from __future__ import annotations

import torch
from torch import nn

from .roofline import N_BW_UNITS, N_CORE_UNITS, UNIT_INIT

ALL_TARGETS = ("P", "P_core", "P_bw", "latency_ms", "energy_mj")
OUTPUT_COLUMNS = (*ALL_TARGETS, "area_mm2")  # oracle outputs a samples table may hold: never hardware inputs


def reported_targets(targets: list[str] | tuple[str, ...]) -> list[str]:
    """The trained targets, plus ``P`` when it follows as ``P_core + P_bw``; in a fixed order."""
    want = set(targets)
    if {"P_core", "P_bw"} <= want:
        want.add("P")
    return [t for t in ALL_TARGETS if t in want]


def mlp(sizes: list[int], act: type[nn.Module] = nn.GELU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class FlatMLP(nn.Module):
    """The seed's model: an MLP over [hardware, flattened zero-padded element array]."""

    def __init__(self, n_hw: int, n_el: int, max_len: int, reported: list[str], hidden: list[int],
                 init_log: dict[str, float]):
        super().__init__()
        self.max_len, self.reported = max_len, list(reported)
        # P is derived from P_core + P_bw when both are reported, else predicted directly.
        self.derive_p = {"P_core", "P_bw"} <= set(reported)
        self.heads = [t for t in reported if not (t == "P" and self.derive_p)]
        self.net = mlp([n_hw + max_len * n_el, *hidden, len(self.heads)])
        with torch.no_grad():
            self.net[-1].bias.copy_(torch.tensor([init_log[t] for t in self.heads]))

    def forward(self, hw: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, lay=None, lmask=None, lw=None) -> torch.Tensor:
        b, length, f = x.shape
        if length < self.max_len:  # pad with zero blocks up to the trained maximum length
            x = torch.cat([x, x.new_zeros(b, self.max_len - length, f)], dim=1)
        out = self.net(torch.cat([hw, x.reshape(b, -1)], dim=1))  # (B, heads)
        cols = dict(zip(self.heads, out.unbind(-1), strict=True))
        if self.derive_p:
            cols["P"] = torch.logaddexp(cols["P_core"], cols["P_bw"])
        return torch.stack([cols[t] for t in self.reported], dim=-1)  # (B, R)


class StructuredNet(nn.Module):
    """Encode each element conditioned on the hardware, predict its energy and time, sum like physics.

    Per element: log e_core, log e_bw (mJ) and log t (ms). Then E = sum e, T = sum t (log-sum-exp
    over the unmasked elements), P_x = E_x / T + P_static_x(hw) with a per-hardware static power
    (leakage, DRAM background), P = P_core + P_bw, energy = P x T. Any depth works.
    """

    def __init__(self, n_hw: int, n_el: int, reported: list[str], hidden: int = 64, depth: int = 2,
                 hw_hidden: int = 64, init_log: dict[str, float] | None = None, roofline: nn.Module | None = None,
                 head_depth: int | None = None, head_act: str = "gelu"):
        super().__init__()
        self.reported = list(reported)
        self.roof = roofline  # optional physics features of each (hardware, element) pair
        self.pair_in = nn.Linear(roofline.n_features, hidden) if roofline is not None else None
        self.hw = mlp([n_hw, hw_hidden, hw_hidden])  # hardware embedding u
        self.film = nn.Linear(hw_hidden, 2 * hidden)  # per-channel scale and shift from u
        self.static = nn.Linear(hw_hidden, 2)  # log static P_core, P_bw (W)
        # Physics version 2: per configuration, the log energy of one unit of each count the roofline
        # gives (MAC, buffer word, DRAM word, second of leakage, ...); the per-element head then adds a
        # correction to the summed physics instead of predicting each energy whole.
        self.unit = (nn.Linear(hw_hidden, N_CORE_UNITS + N_BW_UNITS)
                     if roofline is not None and roofline.version == 2 else None)
        # ``depth`` GELU-Linear layers: the first ``depth - head_depth`` encode the element alone (once
        # per network at inference), the last ``head_depth`` follow the hardware conditioning (per row).
        # The layers after the conditioning run per (row, element) and use ``head_act`` (relu costs a
        # tenth of gelu's exact erf there); the element's own layers run once per network (gelu).
        head = depth if head_depth is None else min(head_depth, depth)
        act = {"gelu": nn.GELU, "relu": nn.ReLU}[head_act]
        layers = lambda n, a: [m for _ in range(n) for m in (a(), nn.Linear(hidden, hidden))]  # noqa: E731
        self.el_in = (nn.Sequential(nn.Linear(n_el, hidden), *layers(depth - head, nn.GELU)) if depth > head
                      else nn.Linear(n_el, hidden))
        self.body = nn.Sequential(*layers(head, act))
        self.out = nn.Sequential(act(), nn.Linear(hidden, 3))  # log e_core, log e_bw, log t
        init = init_log or {}
        with torch.no_grad():
            self.out[-1].bias.copy_(torch.tensor([init.get("e_core", 0.0), init.get("e_bw", 0.0), init.get("t", 0.0)]))
            self.static.bias.copy_(torch.tensor([init.get("static_core", -3.0), init.get("static_bw", -3.0)]))
            if self.unit is not None:  # start at the physics: units at typical values, no correction
                self.unit.bias.copy_(torch.log(torch.tensor(UNIT_INIT)))
                self.unit.weight.mul_(0.1)
                self.out[-1].weight.zero_()
                self.out[-1].bias.zero_()
                self.static.bias.sub_(4.0)  # leakage is in the units: static power starts small

    def components(self, hw: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, lay=None, lmask=None, lw=None,
                   embedded: bool = False) -> dict[str, torch.Tensor]:
        """Natural logs of E_core, E_bw (mJ), T (ms), static P_core, P_bw (W); each (B,).

        ``lw`` (B, L): log multiplicity of each element (k identical operators count k times), -inf at
        padding (then it replaces the mask).
        ``embedded``: ``x`` already holds ``el_in(x)`` (B, L, D), computed once per network (inference).
        """
        u = self.hw(hw)  # (B, Dh)
        gamma, beta = self.film(u).chunk(2, dim=-1)  # (B, D) each
        h = x if embedded else self.el_in(x)  # (B, L, D)
        scale = 1 + gamma
        phys = None
        if self.roof is not None:  # h + pair_in(standardised roof); its bias goes into the shift
            unit = torch.exp(self.unit(u)) if self.unit is not None and lay.dim() == 3 else None
            roof = self.roof.raw_features(hw, lay, lmask, unit)  # (B, F, L): channels first
            if unit is not None:
                roof, phys = roof  # phys (B, L, 3)
            w, bias = self.roof.standardize(self.pair_in.weight, self.pair_in.bias)  # (D, F), (D,)
            # a batched product with the features' transposed view: no copy of them into (B, L, F)
            h = torch.baddbmm(h, roof.transpose(1, 2), w.t().expand(roof.shape[0], -1, -1))  # (B, L, D)
            beta = beta + bias * scale
        h = torch.addcmul(beta[:, None, :], h, scale[:, None, :])  # FiLM in one pass: (B, L, D)
        s = self._head(self.body(h))  # (B, L, 3)
        if phys is not None:  # the physics' sums per element, corrected by the head
            s = s + phys
        if lw is not None:  # log multiplicities, -inf at padding: the mask is in them
            s = s + lw[:, :, None]
        else:
            s = s.masked_fill(~mask[:, :, None], float("-inf"))
        log_e_core, log_e_bw, log_t = torch.logsumexp(s, dim=1).unbind(-1)  # (B,) each
        st_core, st_bw = self.static(u).unbind(-1)
        return {"E_core": log_e_core, "E_bw": log_e_bw, "T": log_t, "static_core": st_core, "static_bw": st_bw}

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, L, 3). Compiled, the last layer is written as a product and a sum over D, which
        inductor fuses with the FiLM and the activation into one loop: (B, L, D) is never stored."""
        if not torch.compiler.is_compiling():
            return self.out(h)
        act, last = self.out
        return (act(h)[..., None, :] * last.weight).sum(-1) + last.bias  # (B, L, 3, D) -> (B, L, 3)

    def forward(self, hw: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, lay=None, lmask=None, lw=None,
                embedded: bool = False) -> torch.Tensor:
        c = self.components(hw, x, mask, lay, lmask, lw, embedded)
        p_core = torch.logaddexp(c["E_core"] - c["T"], c["static_core"])
        p_bw = torch.logaddexp(c["E_bw"] - c["T"], c["static_bw"])
        p = torch.logaddexp(p_core, p_bw)
        cols = {"P": p, "P_core": p_core, "P_bw": p_bw, "latency_ms": c["T"], "energy_mj": p + c["T"]}
        return torch.stack([cols[t] for t in self.reported], dim=-1)  # (B, R)
