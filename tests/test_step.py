"""One SGD step: what it returns, that it updates in place, and the device helpers."""

import torch
import torch.nn.functional as F
from torch import nn

from course_utils import step
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
    assert not step.is_fast(cpu) and step.device_name(cpu) == "cpu" and step.is_fast(torch.device("cuda"))
    net = step.prepare_model(nn.Conv2d(3, 4, 3).eval(), cpu)
    assert net.training and next(net.parameters()).is_contiguous()
