"""Rebuild the sample data from scikit-learn's bundled handwritten-digits set (no download).

    python sample_data/make_sample.py

Writes, next to this script:
  digits_noisy.parquet / digits_noisy.csv   1 797 rows: id, 64 pixel columns px0..px63, label (word)
  digits_truth.csv                          row, id, true_label, given_label, is_noisy
  digits_embeddings.npy                     1 797 x 16 float32 PCA "embeddings" of the same images
  digits_embedding_labels.csv               the (noisy) labels, one per row, header "label"
  digits_train.parquet                      a stratified 80 % of the same rows with the same noisy labels
  digits_test_clean.parquet                 the other 20 % with their TRUE labels: a clean test set for retrain
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

HERE = Path(__file__).parent
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# asymmetric noise: each digit is mislabelled as one look-alike digit (cat -> dog style)
LOOKALIKE = {0: 6, 1: 7, 2: 3, 3: 8, 4: 9, 5: 6, 6: 5, 7: 1, 8: 3, 9: 4}
RATE = 0.10
SEED = 20261128


def main() -> None:
    digits = load_digits()
    X = digits.data.astype(np.int8)
    y = digits.target.astype(int)
    rng = np.random.default_rng(SEED)
    flip = rng.random(len(y)) < RATE
    noisy = y.copy()
    noisy[flip] = [LOOKALIKE[c] for c in y[flip]]
    ids = [f"d{i:04d}" for i in range(len(y))]
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    df.insert(0, "id", ids)
    df["label"] = [NAMES[c] for c in noisy]
    df.to_parquet(HERE / "digits_noisy.parquet", index=False, compression="zstd")
    df.to_csv(HERE / "digits_noisy.csv", index=False)
    truth = pd.DataFrame(
        {
            "row": np.arange(len(y)),
            "id": ids,
            "true_label": [NAMES[c] for c in y],
            "given_label": [NAMES[c] for c in noisy],
            "is_noisy": flip,
        }
    )
    truth.to_csv(HERE / "digits_truth.csv", index=False)
    emb = PCA(n_components=16, random_state=0).fit_transform(digits.data).astype(np.float32)
    np.save(HERE / "digits_embeddings.npy", emb, allow_pickle=False)
    pd.DataFrame({"label": [NAMES[c] for c in noisy]}).to_csv(HERE / "digits_embedding_labels.csv", index=False)
    # a clean test set for `labelaudit retrain --test`: never evaluate on noisy labels
    from sklearn.model_selection import train_test_split

    train_rows, test_rows = train_test_split(np.arange(len(y)), test_size=0.2, random_state=SEED % 2**32, stratify=y)
    train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    df.iloc[train_rows].to_parquet(HERE / "digits_train.parquet", index=False, compression="zstd")
    clean = df.iloc[test_rows].assign(label=[NAMES[c] for c in y[test_rows]])
    clean.to_parquet(HERE / "digits_test_clean.parquet", index=False, compression="zstd")
    print(f"{int(flip.sum())} of {len(y)} labels flipped ({flip.mean():.1%}); train {len(train_rows)}, test {len(test_rows)}")


if __name__ == "__main__":
    main()
