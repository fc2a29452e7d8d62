"""The OCR head (Yuan, Chen, Wang, ECCV 2020), one function per equation.

Shapes: b batch, c channels, k classes (= object regions), n = h*w pixels.
Beyond the paper's equations, as in the official code: phi and psi are two
conv-BN-ReLU blocks, delta and rho one each, the relation logits are scaled by
key_channels^-0.5, the spatial softmax has a temperature, and g ends in dropout.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from einops import einsum, rearrange
from torch import nn

from .conv_blocks import conv_bn_relu as conv_bn_act


def m_tilde(M: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Eq. 4 (weights): m~_ki = softmax over pixels i of M_ki, so each region's weights sum to 1."""
    return torch.softmax(temperature * rearrange(M, "b k h w -> b k (h w)"), dim=-1)


def f(m_tilde: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Eq. 4: f_k = sum_i m~_ki x_i, the object region representations."""
    return einsum(m_tilde, rearrange(x, "b c h w -> b (h w) c"), "b k n, b n c -> b k c")


def kappa(phi_x: torch.Tensor, psi_f: torch.Tensor) -> torch.Tensor:
    """Eq. 5 (logits): kappa(x_i, f_k) = phi(x_i)^T psi(f_k) / sqrt(key channels)."""
    return einsum(phi_x, psi_f, "b n d, b k d -> b n k") * phi_x.shape[-1] ** -0.5


def w(kappa: torch.Tensor) -> torch.Tensor:
    """Eq. 5: w_ik = softmax over regions k of kappa(x_i, f_k), so each pixel's weights sum to 1."""
    return torch.softmax(kappa, dim=-1)


def context(w: torch.Tensor, delta_f: torch.Tensor) -> torch.Tensor:
    """Eq. 3 (inside rho): sum_k w_ik delta(f_k), each pixel's mix of the region values."""
    return einsum(w, delta_f, "b n k, b k d -> b n d")


@dataclass
class OCRHeadTrace:
    """Every intermediate of one pass through the OCR head (h, w: feature-map size, n = h*w).

    x (b,c,h,w) pixel representations; M (b,k,h,w) soft object regions (aux logits);
    m_tilde (b,k,n) spatial softmax of M; f (b,k,c) region representations;
    kappa (b,n,k) relation logits; w (b,n,k) relation; y (b,c,h,w) object contextual
    representations; z (b,c,h,w) augmented representations; logits (b,k,h,w).
    """

    x: torch.Tensor
    M: torch.Tensor
    m_tilde: torch.Tensor
    f: torch.Tensor
    kappa: torch.Tensor
    w: torch.Tensor
    y: torch.Tensor
    z: torch.Tensor
    logits: torch.Tensor


class OCRHead(nn.Module):
    """Soft regions M, pixel features x, then Eq. 4, 5, 3, 6 and a 1x1 classifier.

    The released models differ from one another only outside the equations, and the options
    say where: `conv_bias` (the 3x3 conv to x and the aux head's first conv have biases, as in
    HRNet-OCR and openseg), `aux_bias` (the aux head's first conv alone), `attention_bias` (the 1x1 convs of
    phi, psi, delta, rho and g have biases, as in openseg), `context_first`
    (g reads [y; x], the order all three official codes concatenate in; the paper writes
    [x; y]), `relu_slope` (every conv-BN-ReLU's ReLU leaky with this slope: openseg's InPlace-ABN
    releases, whose BNReLU is BatchNorm + leaky ReLU 0.01), and the aux head's input width, hidden width and kernel (`aux_in_channels`,
    `aux_channels`, `aux_kernel`: the ResNet-101 models read M off an earlier backbone stage
    with a 3x3 conv to 512 or 256 channels). The defaults are the shipped model's head.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        mid_channels: int = 512,
        key_channels: int = 256,
        dropout: float = 0.05,
        temperature: float = 1.0,
        conv_bias: bool = False,
        aux_bias: bool | None = None,
        context_first: bool = False,
        aux_in_channels: int | None = None,
        aux_channels: int | None = None,
        aux_kernel: int = 1,
        attention_bias: bool = False,
        relu_slope: float = 0.0,
    ):
        super().__init__()
        self.temperature = temperature
        self.context_first = context_first
        aux_in = aux_in_channels or in_channels
        conv_bn_relu = functools.partial(conv_bn_act, relu_slope=relu_slope)
        self.aux_head = nn.Sequential(  # soft object regions, supervised by the auxiliary loss
            conv_bn_relu(aux_in, aux_channels or aux_in, aux_kernel, bias=conv_bias if aux_bias is None else aux_bias),
            nn.Conv2d(aux_channels or aux_in, num_classes, 1),
        )
        self.conv3x3 = conv_bn_relu(in_channels, mid_channels, 3, bias=conv_bias)  # pixel representations x
        b = attention_bias
        self.phi = nn.Sequential(conv_bn_relu(mid_channels, key_channels, bias=b), conv_bn_relu(key_channels, key_channels, bias=b))
        self.psi = nn.Sequential(conv_bn_relu(mid_channels, key_channels, bias=b), conv_bn_relu(key_channels, key_channels, bias=b))
        self.delta = conv_bn_relu(mid_channels, key_channels, bias=b)
        self.rho = conv_bn_relu(key_channels, mid_channels, bias=b)
        self.g = nn.Sequential(conv_bn_relu(2 * mid_channels, mid_channels, bias=b), nn.Dropout2d(dropout))
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def regions(self, f: torch.Tensor, transform: nn.Module) -> torch.Tensor:
        """Apply a 1x1 conv transform to the K region vectors, (b,k,c) -> (b,k,d)."""
        return rearrange(transform(rearrange(f, "b k c -> b c k 1")), "b d k 1 -> b k d")

    def relation(self, x: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 5: kappa(x_i, f_k) = phi(x_i)^T psi(f_k) and its softmax over regions, w_ik."""
        k = kappa(rearrange(self.phi(x), "b d h w -> b (h w) d"), self.regions(f, self.psi))
        return k, w(k)

    def y(self, w: torch.Tensor, f: torch.Tensor, height: int) -> torch.Tensor:
        """Eq. 3: y_i = rho(sum_k w_ik delta(f_k)), back on the (height, width) grid."""
        return self.rho(rearrange(context(w, self.regions(f, self.delta)), "b (h w) d -> b d h w", h=height))

    def z(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Eq. 6: z_i = g([x_i^T y_i^T]^T) (g's input channels in [y; x] order if context_first)."""
        return self.g(torch.cat([y, x] if self.context_first else [x, y], dim=1))

    def trace(self, features: torch.Tensor, aux_features: torch.Tensor | None = None) -> OCRHeadTrace:
        """Every stage; M is read off `aux_features` when the model has a separate aux input."""
        M = self.aux_head(features if aux_features is None else aux_features)
        x = self.conv3x3(features)
        m = m_tilde(M, self.temperature)
        f_k = f(m, x)
        k, w_ik = self.relation(x, f_k)
        y = self.y(w_ik, f_k, x.shape[-2])
        z = self.z(x, y)
        return OCRHeadTrace(x=x, M=M, m_tilde=m, f=f_k, kappa=k, w=w_ik, y=y, z=z, logits=self.classifier(z))

    def forward(self, features: torch.Tensor, aux_features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, soft-region logits M), both at the feature resolution."""
        t = self.trace(features, aux_features)
        return t.logits, t.M
