"""The gap diagnostics: BN statistics recomputed exactly, the JPEG copy's chroma read from the files, the table."""

import json

import pytest
import torch
from PIL import Image
from torch import nn

from course_utils import data as cdata
from course_utils import models
from course_utils.analysis import gap
from course_utils.transforms import Normalizer, random_crop_flip
from tests.fakes import fake_result

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers, nn.Linear(4, 3)).eval()


def _images(n: int = 256) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


NORM = Normalizer("per_pixel", mean=torch.full((3, 32, 32), 0.5))


def test_recomputed_statistics_are_the_exact_average_of_the_augmented_batches():
    net, images = _tiny(), _images()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = gap.recalibrate(net, images, NORM, batch_size=128)
    # by hand: the same two augmented batches (seed 0, in order), the conv's output, each batch's statistics
    gen, means, variances = torch.Generator().manual_seed(0), [], []
    with torch.no_grad():
        for i in (0, 128):
            y = net[0](NORM(random_crop_flip(images[i : i + 128], generator=gen)))  # (128, 4, 32, 32)
            means.append(y.mean((0, 2, 3)))
            variances.append(y.var((0, 2, 3), unbiased=True))
    bn = out[1]
    torch.testing.assert_close(bn.running_mean, torch.stack(means).mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, torch.stack(variances).mean(0), rtol=1e-5, atol=1e-6)
    assert not out.training and bn.momentum == 0.1 and int(bn.num_batches_tracked) == 2
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # the original is untouched
    weights = [k for k in before if "running" not in k and "batches" not in k]
    assert all(torch.equal(out.state_dict()[k], before[k]) for k in weights)  # only the statistics change


def test_recomputing_repairs_wrong_statistics_and_does_not_depend_on_them():
    net, images = _tiny(), _images()
    x = NORM(images[:64])
    good = gap.recalibrate(net, images, NORM)
    broken = gap.recalibrate(net, images, NORM)
    broken[1].running_mean += 3.0  # statistics of some other data
    broken[1].running_var *= 50.0
    with torch.no_grad():
        assert not torch.allclose(broken(x), good(x), atol=1e-2)
        torch.testing.assert_close(gap.recalibrate(broken, images, NORM)(x), good(x))


def test_recomputing_needs_a_batch_a_normalizer_and_a_bn_layer():
    with pytest.raises(ValueError, match="whole batch of 128"):
        gap.recalibrate(_tiny(), _images(100), NORM)
    with pytest.raises(ValueError, match="normalizer"):
        gap.recalibrate(_tiny(), _images(), None)
    with pytest.raises(ValueError, match="no BatchNorm"):
        gap.recalibrate(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2)), _images(), NORM)


@pytest.mark.parametrize("subsampling, name", [(0, "4:4:4"), (1, "4:2:2"), (2, "4:2:0")])
def test_chroma_reads_how_the_copy_was_encoded(tmp_path, subsampling, name):
    folder = tmp_path / "cifar10" / "train" / "cat"
    folder.mkdir(parents=True)
    pixels = _images(1)[0].permute(1, 2, 0).numpy()
    Image.fromarray(pixels).save(folder / "0000.jpg", quality=75, subsampling=subsampling)
    assert gap.chroma(tmp_path) == name


def test_chroma_of_a_folder_without_jpegs_says_why(tmp_path):
    Image.fromarray(_images(1)[0].permute(1, 2, 0).numpy()).save(tmp_path / "0000.png")
    with pytest.raises(FileNotFoundError, match=r"no \.jpg file"):
        gap.chroma(tmp_path)


def test_the_sample_draws_from_every_class_of_a_copy_stored_class_by_class():
    data = cdata.synthetic_cifar10(n_train=1000, n_test=10)
    order = data.train_labels.argsort(stable=True)  # class by class, as an ImageFolder copy is read
    data = cdata.CIFAR10(data.train_images[order], data.train_labels[order], data.test_images, data.test_labels, "x")
    x, y = gap.sample(data, 200)
    pairs = {(img.numpy().tobytes(), int(lab)) for img, lab in zip(data.train_images, data.train_labels, strict=True)}
    assert all((img.numpy().tobytes(), int(lab)) in pairs for img, lab in zip(x, y, strict=True))  # image and label
    assert x.shape == (200, 3, 32, 32) and y.bincount(minlength=10).min() >= 8  # ~20 each; the first 200: 2 classes
    torch.testing.assert_close(gap.sample(data, 200)[0], x)  # the same choice every time


def _finished(folder, data):
    """A finished ResNet-20 with weights (initial ones: the table's wiring, not its numbers) and a plain-20 without."""
    (folder / "weights").mkdir(parents=True)
    for name in ("resnet20", "plain20"):
        res = fake_result(name, 1.5, 12.0) | {"train_set": "all", "n_train_images": len(data.train_labels)}
        (folder / f"{name}-s0.json").write_text(json.dumps(res))
    state = {k: v.half() if v.is_floating_point() else v for k, v in models.get_model("resnet20").state_dict().items()}
    torch.save(state, folder / "weights" / "resnet20-s0.pt")
    return folder


def test_the_table_has_a_row_for_each_finished_net_with_weights_beside_the_public_run(tmp_path):
    data = cdata.synthetic_cifar10(n_train=256, n_test=128)
    rows = gap.gap_rows(["plain20", "resnet20"], _finished(tmp_path, data), data, n=128)
    assert [r["model"] for r in rows] == ["resnet20"]  # plain-20 has no weights
    (row,) = rows
    assert row["train % (recorded)"] == 1.5 and row["test % (recorded)"] == 12.0
    assert row["public test %"] == pytest.approx(8.04) and row["public train %"] == pytest.approx(0.40)  # CSV's end


def test_a_net_the_public_run_lacks_gets_a_dash_beside_it(tmp_path, monkeypatch):
    data = cdata.synthetic_cifar10(n_train=256, n_test=128)
    monkeypatch.setattr(gap, "load_public", dict)  # as for the CIFAR ResNet-18: the public run has no such net
    (row,) = gap.gap_rows(["resnet20"], _finished(tmp_path, data), data, n=128)
    assert row["public train %"] == row["public test %"] == "-" and row["test % (recorded)"] == 12.0


def test_the_command_prints_the_table_and_says_when_there_is_nothing_to_diagnose(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "no_data"))  # the synthetic stand-in: no JPEG copy
    folder = _finished(tmp_path / "fig6", cdata.synthetic_cifar10())
    assert gap.main(["--folder", str(folder), "--models", "resnet20", "--images", "128"]) == 0
    out = capsys.readouterr().out
    assert out.count("| resnet20 |") == 1 and "test % (BN recomputed)" in out and "(not a JPEG copy)" in out
    assert gap.main(["--folder", str(tmp_path / "empty"), "--models", "resnet20"]) == 1
    assert "no finished net with weights" in capsys.readouterr().err
