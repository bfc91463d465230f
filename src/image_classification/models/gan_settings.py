"""The settings of the ``gan`` pipeline (conf/base/parameters_gan.yml): one typed object, its defaults and rules.

Apart from the DCGAN (``dcgan.py``) so that the pipeline's nodes and checks read them without importing Keras.
"""

from __future__ import annotations

from typing import ClassVar

from image_classification.config import StrictSettings

#: How the generator doubles the side: resize then convolve, or the paper's strided transposed convolution.
UPSAMPLINGS = ("resize", "transposed")
#: The transforms of DiffAugment's policy for data sets of about 100 images, in the order they are applied
#: (``batch_augment.py``).
DIFF_AUGMENT_POLICY = ("color", "translation", "cutout")


class GanSettings(StrictSettings):
    """What the gan pipeline reads from ``gan:`` (conf/base/parameters_gan.yml).

    Attributes:
        image_size: Side of the generated (and real, resized) images; a power of two from 16 to 256.
        latent_size: Length of the generator's noise vector.
        base_filters: Filters of the discriminator's first layer and the generator's last hidden one; each other
            layer doubles or halves it (the paper used 128; 64 and more need a GPU).
        epochs: Passes over the training images.
        batch_size: Real images per step (as many generated ones).
        generator_learning_rate: Adam learning rate of the generator.
        discriminator_learning_rate: Adam learning rate of the discriminator.
        beta_1: Adam's first-moment decay, for both networks.
        upsampling: ``resize`` (nearest-neighbour resize then 3x3 convolution) or ``transposed`` (the paper's).
        diff_augment: DiffAugment policy applied to real and generated images in both steps, comma-separated
            transforms of ``color,translation,cutout``; null: none.
        ema_decay: The generator used for samples and scores is the moving average ``ema = d * ema + (1 - d) * w``
            of the trained one's weights (BatchNorm statistics included), updated after every generator step; 0:
            the trained generator itself.
        sample_grid_size: The fixed noise batch drawn every epoch is a ``sample_grid_size`` x ``sample_grid_size`` grid.
        max_images: Train on at most this many real images (a random subset); null: all of train + val.
        eval_samples: Generated images scored against the held-out test images (and the most training images
            used as the real-vs-real reference).
        kid_subsets: Random subsets the KID is averaged over.
        kid_subset_size: Images per side in each KID subset (fewer when a side has fewer).
        kid_bootstraps: Bootstrap resamples of the test images (and of the compared set) that give KID's spread.
        copy_check_samples: Generated images shown beside their nearest training image (the copying check).
        feature_image_size: Images are resized to this side before the MobileNetV2 feature extractor.
        seed: Seeds the training: weights, noise, augmentation, the image order.
        score_seed: Seeds the scoring (evaluation noise, KID subsets, bootstrap) and the untrained reference's
            weights, so every training seed is scored against the same references.
        verbose: Keras progress output during training (0 silent, 2 one line per epoch).
    """

    image_size: int = 64
    latent_size: int = 100
    base_filters: int = 16
    epochs: int = 160
    batch_size: int = 8
    generator_learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    beta_1: float = 0.5
    upsampling: str = "resize"
    diff_augment: str | None = "color,translation,cutout"
    ema_decay: float = 0.995
    sample_grid_size: int = 6
    max_images: int | None = None
    eval_samples: int = 256
    kid_subsets: int = 100
    kid_subset_size: int = 50
    kid_bootstraps: int = 200
    copy_check_samples: int = 16
    feature_image_size: int = 160
    seed: int = 42
    score_seed: int = 42
    verbose: int = 2

    WHAT: ClassVar[str] = "gan setting"
    LOWERCASE: ClassVar[tuple[str, ...]] = ("upsampling", "diff_augment")

    @property
    def augment_policy(self) -> tuple[str, ...]:
        """``diff_augment`` as a tuple of transforms (empty: no augmentation)."""
        return tuple(part.strip() for part in (self.diff_augment or "").split(",") if part.strip())

    def rules(self) -> list[tuple[str, bool, str]]:
        """(key, valid, what a valid value is) for every check on the values."""
        power_of_two = self.image_size >= 16 and self.image_size & (self.image_size - 1) == 0
        return [
            ("image_size", power_of_two and self.image_size <= 256, "a power of two from 16 to 256"),
            ("latent_size", self.latent_size >= 1, "at least 1"),
            ("base_filters", self.base_filters >= 1, "at least 1"),
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("generator_learning_rate", self.generator_learning_rate > 0, "above 0"),
            ("discriminator_learning_rate", self.discriminator_learning_rate > 0, "above 0"),
            ("beta_1", 0 <= self.beta_1 < 1, "from 0 up to (not including) 1"),
            ("upsampling", self.upsampling in UPSAMPLINGS, f"one of {', '.join(UPSAMPLINGS)}"),
            ("diff_augment", set(self.augment_policy) <= set(DIFF_AUGMENT_POLICY),
             f"null or comma-separated transforms of {','.join(DIFF_AUGMENT_POLICY)}"),
            ("ema_decay", 0 <= self.ema_decay < 1, "from 0 up to (not including) 1"),
            ("sample_grid_size", self.sample_grid_size >= 1, "at least 1"),
            ("max_images", self.max_images is None or self.max_images >= 1, "at least 1, or null"),
            ("eval_samples", self.eval_samples >= 2, "at least 2"),
            ("kid_subsets", self.kid_subsets >= 1, "at least 1"),
            ("kid_subset_size", self.kid_subset_size >= 2, "at least 2"),
            ("kid_bootstraps", self.kid_bootstraps >= 2, "at least 2"),
            ("copy_check_samples", 1 <= self.copy_check_samples <= self.eval_samples, "from 1 to eval_samples"),
            ("feature_image_size", self.feature_image_size >= 32, "at least 32 (MobileNetV2's smallest input)"),
            ("verbose", self.verbose in (0, 1, 2), "0, 1 or 2"),
        ]
