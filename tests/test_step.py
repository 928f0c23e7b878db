"""One SGD step: what it returns, that it updates in place, and the device helpers."""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from course_utils import models, step
from course_utils.schedule import Schedule


def test_train_step_returns_the_loss_of_the_weights_before_the_update():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    opt = step.make_optimizer(net, Schedule(), torch.device("cpu"))
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    with torch.no_grad():
        before = F.cross_entropy(net(x), y)
    w0 = net[1].weight.detach().clone()
    loss, logits = step.train_step(net, opt, x, y)
    assert logits.shape == (8, 10) and torch.equal(loss.detach(), before)  # no autocast on the CPU: exact
    assert not torch.equal(net[1].weight, w0)  # updated in place
    g = opt.param_groups[0]
    assert (g["lr"], g["momentum"], g["weight_decay"]) == (0.1, 0.9, 1e-4) and not g.get("fused")


def test_device_helpers_on_the_cpu():
    cpu = torch.device("cpu")
    assert not step.on_cuda(cpu) and step.device_name(cpu) == "cpu" and step.on_cuda(torch.device("cuda"))
    net = step.prepare_model(nn.Conv2d(3, 4, 3).eval(), cpu)  # channels_last: faster on CPUs too (bench)
    assert net.training and next(net.parameters()).is_contiguous(memory_format=torch.channels_last)
    assert step.uses_channels_last(cpu) and not step.uses_channels_last(torch.device("mps"))


def test_channels_last_changes_the_layout_not_the_step():
    # the same step in NCHW and channels_last, in float64 so that no ReLU input near 0 flips its sign
    # between two kernels' roundings (in float32 one flip moves a whole update by ~0.5%): the same loss
    # and the same updated weights
    torch.manual_seed(0)
    a = models.get_model("resnet20").double()
    b = copy.deepcopy(a).to(memory_format=torch.channels_last)
    x, y = torch.randn(8, 3, 32, 32, dtype=torch.float64), torch.randint(0, 10, (8,))
    sched = Schedule()
    la, _ = step.train_step(a, step.make_optimizer(a, sched, torch.device("cpu")), x, y)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    lb, _ = step.train_step(b, step.make_optimizer(b, sched, torch.device("cpu")), x_cl, y)
    torch.testing.assert_close(la, lb, rtol=1e-12, atol=1e-12)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-10, atol=1e-12)
    assert b.conv1.weight.is_contiguous(memory_format=torch.channels_last)
