"""Word embeddings (chapter 01): count-based vectors, word2vec, GloVe, evaluation and DeepWalk.

- :mod:`~coursekit.embeddings.cooccurrence`: vocabulary, co-occurrence counts, PPMI, truncated SVD;
- :mod:`~coursekit.embeddings.word2vec`: skip-gram with negative sampling, trained in batches;
- :mod:`~coursekit.embeddings.glove`: the GloVe objective fitted to co-occurrence counts;
- :mod:`~coursekit.embeddings.evaluate`: similarity (Spearman with coverage), synonyms, analogies;
- :mod:`~coursekit.embeddings.deepwalk`: random walks on a graph, for skip-gram node embeddings.
"""

from coursekit.embeddings.cooccurrence import (
    BOUNDARY,
    Cooccurrence,
    Vocabulary,
    cooccurrence_counts,
    ppmi,
    svd_vectors,
)
from coursekit.embeddings.deepwalk import adjacency_lists, random_walks, walks_to_ids
from coursekit.embeddings.evaluate import (
    AnalogyResult,
    BootstrapResult,
    RetrievalResult,
    SimilarityResult,
    analogy_accuracy,
    cosine_similarity_matrix,
    covered_pairs,
    gensim_available,
    nearest_neighbours,
    random_vectors,
    similarity_bootstrap,
    similarity_spearman,
    spearman,
    synonym_retrieval,
)
from coursekit.embeddings.glove import (
    GloVe,
    GloVeConfig,
    glove_adagrad_step,
    glove_gradients,
    glove_loss,
    glove_weight,
    train_glove,
)
from coursekit.embeddings.word2vec import (
    SkipGram,
    Word2VecConfig,
    keep_probabilities,
    negative_sampling_loss,
    noise_distribution,
    sgns_gradients,
    sgns_sgd_step,
    skipgram_pairs,
    train_word2vec,
)

__all__ = [
    "BOUNDARY",
    "AnalogyResult",
    "BootstrapResult",
    "Cooccurrence",
    "GloVe",
    "GloVeConfig",
    "RetrievalResult",
    "SimilarityResult",
    "SkipGram",
    "Vocabulary",
    "Word2VecConfig",
    "adjacency_lists",
    "analogy_accuracy",
    "cooccurrence_counts",
    "cosine_similarity_matrix",
    "covered_pairs",
    "gensim_available",
    "glove_adagrad_step",
    "glove_gradients",
    "glove_loss",
    "glove_weight",
    "keep_probabilities",
    "nearest_neighbours",
    "negative_sampling_loss",
    "noise_distribution",
    "ppmi",
    "random_vectors",
    "random_walks",
    "sgns_gradients",
    "sgns_sgd_step",
    "similarity_bootstrap",
    "similarity_spearman",
    "skipgram_pairs",
    "spearman",
    "svd_vectors",
    "synonym_retrieval",
    "train_glove",
    "train_word2vec",
    "walks_to_ids",
]
