"""The course's bilingual glossary (English / 中文), kept as data, and how chapters mark terms.

A chapter marks a term where it introduces it, in its Markdown, as ``**English term** (中文)``:
the English in bold, then the Chinese in parentheses, which may go on after a comma or a
semicolon (an abbreviation, a citation: ``**gated recurrent unit** (门控循环单元, GRU; Cho et al.,
2014)``). :func:`marked_terms` finds those marks; ``tests/test_glossary.py`` checks that every
mark is in :data:`TERMS` with the same Chinese, that every entry is used in some chapter, and that
each is marked in its own chapter at its first use.
Chapter 11 and the README render :func:`glossary_table`.

>>> marked_terms("the **hidden state** (隐藏状态) and **BPE** (字节对编码, byte-pair)")
[('hidden state', '隐藏状态'), ('BPE', '字节对编码')]
>>> marked_terms("write `**English** (中文)`")  # code shows the syntax; it marks nothing
[]
>>> lookup("Hidden states").chinese
'隐藏状态'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TERMS", "Term", "glossary_table", "lookup", "marked_terms", "misformed_marks"]


@dataclass(frozen=True)
class Term:
    """One glossary entry.

    Args:
        english: the English term, singular, in lower case unless it is a name.
        chinese: the course's Chinese term (the one chapters write in the parentheses).
        chapter: the chapter that introduces it (``"03"``).
        definition: one line.
        article: the source article's own term where it uses one ("" where it does not).
        also: other English forms the chapters mark (``"fine-tune"`` for ``"fine-tuning"``).
    """

    english: str
    chinese: str
    chapter: str
    definition: str
    article: str = ""
    also: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.english.strip() or not _CJK.search(self.chinese):
            raise ValueError(f"glossary entry {self!r} needs an English and a Chinese term.")
        if not re.fullmatch(r"\d\d", self.chapter):
            raise ValueError(
                f"glossary entry {self.english!r}: chapter {self.chapter!r} is not NN."
            )

    @property
    def forms(self) -> tuple[str, ...]:
        """Every English form, lower case."""
        return tuple(f.lower() for f in (self.english, *self.also))


_CJK = re.compile(r"[\u3400-\u9fff]")
# **English** (中文[, or ; anything]) -- the Chinese runs to the first comma, semicolon or ")",
# half- or full-width (，；（）)
_MARK = re.compile(
    r"\*\*(?P<en>[^*\n]+?)\*\*(?:\s+\(|\s*（)(?P<zh>[^,;()*\n，；（）]*[\u3400-\u9fff][^,;()*\n，；（）]*)[,;)，；）]"
)
# the form the course no longer uses: **English (中文)**, parentheses inside the bold
_MISFORMED = re.compile(r"\*\*[^*\n(]+\([^)*\n]*[\u3400-\u9fff][^)*\n]*\)\*\*")


_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)  # code spans: examples, not marks


def marked_terms(markdown: str) -> list[tuple[str, str]]:
    """The ``(English, Chinese)`` pairs marked in ``markdown`` as ``**English** (中文)`` (not
    inside code spans, where a chapter shows the syntax)."""
    text = _CODE.sub(" ", markdown)
    return [(m["en"].strip(), m["zh"].strip()) for m in _MARK.finditer(text)]


def misformed_marks(markdown: str) -> list[str]:
    """Marks in the old ``**English (中文)**`` form (write ``**English** (中文)`` instead)."""
    return _MISFORMED.findall(_CODE.sub(" ", markdown))


def _singulars(word: str) -> set[str]:
    """``word`` and what it may be the plural of (``patches`` -> ``patch``, ``analogies`` -> ``analogy``)."""
    word = word.lower()
    out = {word}
    if word.endswith("ies"):
        out.add(word[:-3] + "y")
    if word.endswith("es"):
        out.add(word[:-2])
    if word.endswith("s") and not word.endswith("ss"):
        out.add(word[:-1])
    return out


def lookup(english: str) -> Term | None:
    """The entry for an English term (any case; a plural finds its singular), or None."""
    wanted = _singulars(english)
    for term in TERMS:
        if wanted & set(term.forms):
            return term
    return None


def glossary_table(terms: tuple[Term, ...] | None = None) -> str:
    """The glossary as a Markdown table, in the order of the chapters that introduce the terms."""
    rows = [
        "| English | 中文 | the article's term | chapter | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in sorted(terms or TERMS, key=lambda t: (t.chapter, t.english.lower())):
        article = t.article if t.article else "—"
        meaning = t.definition.replace("|", "\\|")  # a | in a cell would end it
        rows.append(f"| {t.english} | {t.chinese} | {article} | {t.chapter} | {meaning} |")
    return "\n".join(rows)


T = Term
TERMS: tuple[Term, ...] = (
    # 00 setup
    T("pretrained language model", "预训练语言模型", "00",
      "a language model trained on a lot of raw text, then adapted to tasks", "预训练语言模型"),
    T("pretraining", "预训练", "00",
      "the first, task-independent training stage on unlabelled text", "预训练"),
    T("fine-tuning", "微调", "00",
      "further training of a pretrained model on a (usually labelled) task", "微调",
      also=("fine-tune",)),
    T("unsupervised learning", "无监督学习", "00",
      "learning from data without labels", "无监督学习"),
    T("self-supervised learning", "自监督学习", "00",
      "unsupervised learning whose targets come from the data itself (the next word)"),
    T("natural language processing", "自然语言处理", "00",
      "computing with human language: understanding, generating, translating it", "自然语言处理",
      also=("NLP",)),
    T("tensor", "张量", "00", "an n-dimensional array, PyTorch's basic data type"),
    # 01 embeddings
    T("word embedding", "词嵌入", "00", "a dense learned vector per word", "词嵌入"),
    T("one-hot vector", "独热向量", "01",
      "a vector of zeros with a single 1 at the word's index"),
    T("bag of words", "词袋模型", "01",
      "a text represented by its word counts, order ignored", "词袋模型"),
    T("singular value decomposition", "奇异值分解", "01",
      "M = U Σ Vᵀ; truncated, the best low-rank approximation of a matrix", also=("SVD",)),
    T("negative sampling", "负采样", "01",
      "word2vec's objective: tell observed context words from sampled noise words"),
    T("log-bilinear", "对数双线性", "01",
      "a model whose log-score is a product of two vectors (GloVe)"),
    T("analogy", "类比", "01", "a : b :: c : ?, answered by vector arithmetic"),
    T("bootstrap interval", "自助法置信区间", "01",
      "an uncertainty interval from resampling the evaluation set"),
    T("Spearman rank correlation", "斯皮尔曼等级相关系数", "01",
      "the correlation of two rankings"),
    T("static", "静态", "01", "one vector per word type, whatever its context"),
    # 02 language models
    T("language model", "语言模型", "00",
      "a probability distribution over sequences of tokens", "语言模型"),
    T("chain rule of probability", "概率链式法则", "02",
      "P(w₁…w_T) = Π P(w_t | w₁…w_{t-1})"),
    T("n-gram model", "n 元语法模型", "02",
      "a language model that conditions on the last n-1 tokens only"),
    T("perplexity", "困惑度", "02",
      "exp of the mean cross-entropy per token: the effective branching factor"),
    T("smoothing", "平滑", "02", "moving probability to unseen n-grams"),
    T("recursive neural network", "递归神经网络", "02",
      "a network applied over a tree (not the RNN of chapter 03)"),
    T("sequence-to-sequence model", "序列到序列模型", "02",
      "a model that maps an input sequence to an output sequence (translation)", "序列到序列模型"),
    # 03 RNN
    T("recurrent neural network", "循环神经网络", "00",
      "one cell applied step by step, carrying a hidden state", "循环神经网络 (also 递归神经网络)",
      also=("RNN",)),
    T("hidden state", "隐藏状态", "01", "the vector an RNN carries from step to step", "隐藏状态"),
    T("backpropagation through time", "随时间反向传播", "03",
      "backpropagation through the unrolled recurrence", also=("BPTT",)),
    T("vanishing gradient", "梯度消失", "03",
      "gradients shrinking exponentially with the distance back in time"),
    T("exploding gradient", "梯度爆炸", "03",
      "gradients growing exponentially with the distance back in time"),
    T("truncated BPTT", "截断的随时间反向传播", "03",
      "backpropagation through a fixed number of steps only"),
    T("character-level language model", "字符级语言模型", "03",
      "a language model whose tokens are characters"),
    T("gradient clipping", "梯度裁剪", "03",
      "scaling the gradient down when its norm exceeds a threshold"),
    # 04 LSTM
    T("long short-term memory", "长短期记忆网络", "00",
      "an RNN with an additive cell state and three gates", "长短期记忆网络", also=("LSTM",)),
    T("cell state", "细胞状态", "04", "the LSTM's additively updated memory c_t"),
    T("gate", "门", "04", "a sigmoid-valued vector that scales another elementwise", "门"),
    T("input gate", "输入门", "04", "how much of the candidate the LSTM writes", "输入门"),
    T("forget gate", "遗忘门", "04", "how much of the cell state the LSTM keeps", "忘记门"),
    T("output gate", "输出门", "04", "how much of the cell state the LSTM shows", "输出门"),
    # 05 GRU
    T("gated recurrent unit", "门控循环单元", "00",
      "an RNN with an update and a reset gate and no separate cell state",
      "gates Recurrent Unit（GRU）", also=("GRU",)),
    T("update gate", "更新门", "05", "the GRU's interpolation between old state and candidate",
      "更新门"),
    T("reset gate", "重置门", "05", "how much of the old state the GRU's candidate reads",
      "重置门"),
    # 06 attention
    T("encoder", "编码器", "06", "the part of a model that reads the input", "编码器"),
    T("decoder", "解码器", "06", "the part of a model that produces the output", "解码器"),
    T("teacher forcing", "教师强制", "06",
      "training a decoder on the true previous tokens instead of its own"),
    T("attention", "注意力", "06",
      "a weighted average of values, weights from query-key scores", "注意力机制"),
    T("attention weight", "注意力权重", "06", "the softmax-normalised score of one key"),
    T("attention pooling", "注意力汇聚", "06",
      "one attention-weighted summary vector of a whole sequence"),
    T("self-attention", "自注意力", "06",
      "attention of a sequence to itself: every position gets its own output", "自注意力"),
    # 07 Transformer
    T("query", "查询", "07", "the vector that asks, in attention"),
    T("key", "键", "07", "the vector a query is compared with"),
    T("value", "值", "07", "the vector attention averages"),
    T("scaled dot-product attention", "缩放点积注意力", "07", "softmax(QKᵀ/√d) V"),
    T("mask", "掩码", "07", "which keys each query may attend to"),
    T("padding mask", "填充掩码", "07", "a mask that hides padding tokens"),
    T("causal mask", "因果掩码", "07", "a mask that hides the future from each position"),
    T("multi-head attention", "多头注意力", "07",
      "several attentions in parallel on slices of the width", "多头注意力"),
    T("positional encoding", "位置编码", "07",
      "what tells an order-blind attention layer each token's position", "位置编码"),
    T("feed-forward network", "前馈网络", "03",
      "the per-position two-layer MLP of a Transformer layer"),
    T("residual connection", "残差连接", "07", "x + sublayer(x)"),
    T("layer normalisation", "层归一化", "07",
      "normalising each position's vector to mean 0, variance 1, then scaling and shifting"),
    T("Transformer", "Transformer 模型", "00",
      "an architecture of self-attention and feed-forward layers with residual connections (Vaswani et al., 2017)", "Transformer 模型"),
    # 08 pretraining
    T("bits per character", "每字符比特数", "03",
      "cross-entropy in bits, averaged over characters"),
    T("byte-pair encoding", "字节对编码", "08",
      "a tokenizer that merges the most frequent pair of symbols, repeatedly", also=("BPE",)),
    T("decoding", "解码", "08", "turning a model's next-token distributions into text"),
    T("KV cache", "键值缓存", "08",
      "the keys and values of earlier positions, kept to generate one token at a time"),
    # 09 fine-tuning
    T("supervised learning", "监督学习", "08",
      "learning from labelled examples", "监督学习"),
    # 10 challenges
    T("compute cost", "计算成本", "10",
      "the computation (FLOPs, time, energy) that training or running a model takes", "计算成本"),
    T("privacy", "隐私", "10",
      "keeping personal information in the training data from coming out of the model", "隐私"),
    T("model FLOPs utilisation", "模型算力利用率", "10",
      "achieved FLOP rate of training divided by the hardware's peak", also=("MFU",)),
    T("Word Embedding Association Test", "词嵌入联想测验", "10",
      "a measure of stereotyped associations between word sets in word vectors", also=("WEAT",)),
    T("rank", "排名", "10",
      "a canary's position among all candidate secrets, ordered by the model's probability"),
    T("FLOPs", "浮点运算次数", "10", "floating-point operations, the unit of compute cost"),
    T("training step", "训练步", "03", "one optimizer update on one batch"),
    T("power law", "幂律", "10", "y = a x^b: a straight line on log-log axes"),
    T("scaling law", "缩放定律", "10",
      "a power law of loss against model size, data or compute"),
    T("compute-efficient frontier", "计算最优前沿", "10",
      "the lowest loss reachable at each compute budget"),
    T("data bias", "数据偏见", "10",
      "skews in the training data that a model learns and repeats", "数据偏见"),
    T("effect size", "效应量", "10", "how large a measured difference is, on a stated scale"),
    T("permutation test", "置换检验", "10",
      "a significance test that shuffles the labels to build the null distribution"),
    T("canary", "金丝雀", "10",
      "a unique planted string, to test whether a model memorised its training data"),
    T("exposure", "暴露度", "10", "how much more likely a model finds a canary than random ones"),
    T("deduplication", "去重", "10", "removing repeated documents from the training data"),
    T("extraction", "提取", "10", "recovering training text from a model by prompting it"),
    # 11 FAQ
    T("computer vision", "计算机视觉", "11",
      "computing with images and video", "计算机视觉"),
    T("image patch", "图像块", "11",
      "a small square of an image, the token of a vision Transformer"),
    T("vision Transformer", "视觉 Transformer", "11",
      "a Transformer encoder over image patches (ViT)", also=("ViT",)),
    T("linear probe", "线性探针", "09",
      "a linear classifier trained on a frozen model's features"),
    T("text generation", "文本生成", "11", "producing text with a language model", "文本生成"),
    T("machine translation", "机器翻译", "11",
      "translating text from one language to another", "机器翻译"),
    T("text classification", "文本分类", "11", "assigning a label to a text"),
    T("sentiment analysis", "情感分析", "11",
      "classifying a text by the opinion it expresses", "情感分析"),
    T("speech recognition", "语音识别", "11", "turning speech into text", "语音识别"),
    # used throughout chapters 00-09, each marked where a chapter first uses it
    T('BERT', 'BERT 模型', '00',
      'a Transformer encoder pretrained as a masked language model (Devlin et al., 2019)'),
    T('gradient', '梯度', '00',
      "the vector of a loss's partial derivatives with respect to the parameters"),
    T('logit', 'logit 值', '00',
      'an unnormalised score that softmax turns into a probability'),
    T('softmax', 'softmax 函数', '00',
      'exp(z_i) / Σ exp(z_j): scores to a probability distribution'),
    T('temperature', '温度', '00',
      'the divisor of the logits before sampling: low is sharp, high is flat'),
    T('token', '词元', '00',
      'the unit a model reads and predicts: a character, a word or a piece of one'),
    T('batch', '批量', '01',
      'the examples one training step averages its gradient over'),
    T('epoch', '轮次', '01',
      'one pass over the training set'),
    T('learning rate', '学习率', '01',
      'the step size of gradient descent'),
    T('vocabulary', '词表', '01',
      'the set of tokens a model knows, one id each'),
    T('cross-entropy', '交叉熵', '02',
      '-log of the probability a model gives the true target, averaged'),
    T('backpropagation', '反向传播', '03',
      'computing all gradients by the chain rule, from the loss backwards'),
    T('greedy decoding', '贪心解码', '03',
      'always taking the most probable next token'),
    T('Jacobian', '雅可比矩阵', '03',
      'the matrix of partial derivatives of a vector function'),
    T('warm-up', '预热', '03',
      'raising the learning rate from near 0 over the first steps'),
    T('validation set', '验证集', '04',
      'held-out data for choosing settings, kept apart from the test set'),
    T('cosine schedule', '余弦退火', '05',
      'lowering the learning rate along a half cosine to the end of training'),
    T('additive attention', '加性注意力', '06',
      'attention scored by a small MLP of query and key (Bahdanau et al., 2015)'),
    T('BLEU', 'BLEU 分数', '06',
      'the geometric mean of n-gram precisions against references, with a brevity penalty'),
    T('chrF', 'chrF 分数', '06',
      'a character n-gram F-score against references'),
    T('pointer-generator network', '指针生成网络', '06',
      'a decoder that mixes generating a word with copying one from the input', also=('pointer-generator',)),
    T('dropout', '随机失活', '06',
      'zeroing random activations during training, scaling the rest'),
    T('weight tying', '权重共享', '06',
      'using the token embedding matrix as the output layer too'),
    T('attention head', '注意力头', '07',
      'one of the parallel attentions of multi-head attention'),
    T('cross-attention', '交叉注意力', '07',
      'attention whose queries come from the decoder and keys and values from the encoder'),
    T('post-norm', '后置归一化', '07',
      'layer normalisation after each residual addition (the original Transformer)'),
    T('pre-norm', '前置归一化', '07',
      'layer normalisation before each sublayer, inside the residual branch'),
    T('sinusoidal positional encoding', '正弦位置编码', '07',
      'fixed sines and cosines of the position at geometric frequencies'),
    T('GELU', 'GELU 激活函数', '08',
      'x Φ(x): the smooth activation of GPT and BERT'),
    T('masked language model', '掩码语言模型', '08',
      'a model trained to predict hidden tokens from both sides', also=('MLM',)),
    T('nucleus sampling', '核采样', '08',
      'sampling among the fewest tokens whose probability sums to p', also=('top-p sampling',)),
    T('tokenizer', '分词器', '08',
      'what splits text into tokens and maps them to ids'),
    T('top-k sampling', 'top-k 采样', '08',
      'sampling only among the k most probable next tokens'),
    T('adapter', '适配器', '09',
      'a small module inserted into a frozen model and trained alone'),
    T('catastrophic forgetting', '灾难性遗忘', '09',
      'losing what pretraining learned while fine-tuning on a task'),
    T('classification head', '分类头', '09',
      "the layer that maps a model's features to class scores"),
    T('frozen', '冻结', '09',
      'of parameters: not updated in training'),
    T('full fine-tuning', '全量微调', '09',
      'fine-tuning every parameter of the pretrained model'),
    T('low-rank adaptation', '低秩适配', '09',
      'fine-tuning a low-rank update B A beside each frozen weight', also=('LoRA',)),
    T('macro-F1', '宏平均 F1', '09',
      "the unweighted mean over classes of each class's F1"),
    T('mean pooling', '平均池化', '09',
      'averaging the vectors of all positions into one'),
)  # fmt: skip
