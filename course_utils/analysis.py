"""Looking inside networks: gradients, layer responses, lesions, loss landscapes.

The notebooks call these; every function works on any ``nn.Module`` from
``course_utils.models`` and on any device.
"""
from __future__ import annotations

import torch
from torch import nn


# --- gradients (notebooks 01-02): shattered gradients, gradient flow --------


# --- trained networks (notebook 07): layer responses, lesions, landscapes --
