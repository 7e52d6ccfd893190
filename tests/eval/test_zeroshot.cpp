// SPDX-License-Identifier: Apache-2.0
// Zero-shot evaluation: lm-eval's prompts and tokenization boundaries, segment-batched scoring
// against float64 references and separate forwards, metrics with ties and standard errors, and
// ill-formed task files.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "dfrot/eval/zeroshot.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/model/llama_weights.hpp"
#include "io/io_test_util.hpp"
#include "model/synthetic_model.hpp"
#include "support/test_util.hpp"
#include "tokenizer/byte_vocab.hpp"

using namespace dfrot;
using eval::TokenRequest;

namespace {

// log-softmax of a float64 logit row at `target`.
double log_prob(std::vector<double> const& row, int target) {
  double mx = -1e300, sum = 0;
  for (double v : row) mx = std::max(mx, v);
  for (double v : row) sum += std::exp(v - mx);
  return row[std::size_t(target)] - mx - std::log(sum);
}

// The float64 reference of one request: the whole sequence from an empty cache.
eval::Loglikelihood reference_loglikelihood(model::LlamaWeights const& w, TokenRequest const& r) {
  std::vector<int> seq = r.context;
  seq.insert(seq.end(), r.continuation.begin(), r.continuation.end() - 1);
  auto const logits = test::reference_forward(w, seq);
  eval::Loglikelihood out;
  for (std::size_t k = 0; k < r.continuation.size(); ++k) {
    auto const& row = logits[r.context.size() - 1 + k];
    out.logprob += log_prob(row, r.continuation[k]);
    std::size_t arg = 0;
    for (std::size_t v = 1; v < row.size(); ++v)
      if (row[v] > row[arg]) arg = v;
    out.greedy = out.greedy && int(arg) == r.continuation[k];
  }
  return out;
}

void write_text(std::filesystem::path const& p, std::string const& text) {
  std::ofstream(p, std::ios::binary) << text;
}

}  // namespace

TEST_SUITE("eval") {
  TEST_CASE("score_requests: shared contexts, several batches and truncation equal float64 references") {
    model::LlamaModel const m(test::synthetic_llama(32, 2, 4, 2, 48, 40, test::seed() + 11), 24);
    std::vector<TokenRequest> const reqs = {
        {{1, 5, 9, 2}, {7, 7, 3}},        // three choices of one context
        {{1, 5, 9, 2}, {11}},
        {{1, 5, 9, 2}, {30, 2}},
        {{4}, {8, 8, 8, 8, 8}},           // one-token context
        {{3, 3, 1, 0, 19, 22}, {6}},
        {{2, 17, 5}, {25, 26, 27}},
    };
    for (std::size_t batch_rows : {std::size_t{1}, std::size_t{9}, std::size_t{1024}}) {
      CAPTURE(batch_rows);
      std::size_t calls = 0;
      auto const got = eval::score_requests(m, reqs, {.batch_rows = batch_rows, .logits_rows = 3}, nullptr,
                                            [&](eval::LoglikelihoodProgress const& p) {
                                              ++calls;
                                              CHECK(p.total == reqs.size());
                                            });
      CHECK(calls >= 1);
      REQUIRE(got.size() == reqs.size());
      for (std::size_t i = 0; i < reqs.size(); ++i) {
        auto const ref = reference_loglikelihood(m.weights(), reqs[i]);
        CHECK(got[i].logprob == doctest::Approx(ref.logprob).epsilon(1e-5));
        CHECK(got[i].greedy == ref.greedy);
        CHECK(got[i].tokens == reqs[i].continuation.size());
      }
    }
    // lm-eval's window: (context + continuation)[-(max_length+1):] — the oldest context tokens go.
    std::vector<TokenRequest> const longer = {{{1, 2, 3, 4, 5, 6, 7, 8}, {9, 10, 11}}};
    auto const cut = eval::score_requests(m, longer, {.max_length = 6});
    auto const ref = reference_loglikelihood(m.weights(), {{5, 6, 7, 8}, {9, 10, 11}});
    CHECK(cut[0].logprob == doctest::Approx(ref.logprob).epsilon(1e-5));
    CHECK_THROWS_AS(eval::score_requests(m, longer, {.max_length = 2}), ShapeError);
    std::vector<TokenRequest> const bad = {{{1}, {40}}};
    CHECK_THROWS_WITH_AS(eval::score_requests(m, bad, {}), doctest::Contains("outside the vocabulary"),
                         ShapeError);
  }

  TEST_CASE("encode_request: lm-eval's boundary rules (trailing spaces, merges across the boundary, empty context)") {
    // Pieces: byte b has id b + 1; "bc" (257) merges across a context "ab" / continuation "cd".
    tokenizer::Tokenizer const tok(test::byte_vocab({"bc", "\xc4\xa0y"}, {"b c", "\xc4\xa0 y"}));
    auto id = [](char c) { return int(static_cast<unsigned char>(c)) + 1; };
    // Trailing spaces move to the continuation: ("x ", "y") is scored as ("x", " y").
    TokenRequest const a = eval::encode_request(tok, "x ", "y", 0);
    CHECK(a.context == std::vector<int>{id('x')});
    CHECK(a.continuation == std::vector<int>{258});  // "Ġy"
    // A merge across the boundary: whole "abcd" = [a, bc, d]; the context alone is [a, b], so
    // only whole[2:] = [d] is scored — lm-eval's behaviour, kept for comparability.
    TokenRequest const b = eval::encode_request(tok, "ab", "cd", 0);
    CHECK(b.context == std::vector<int>{id('a'), id('b')});
    CHECK(b.continuation == std::vector<int>{id('d')});
    // An empty (or all-space) context becomes the prefix token.
    TokenRequest const c = eval::encode_request(tok, "", "xy", 0);
    CHECK(c.context == std::vector<int>{0});
    CHECK(c.continuation == std::vector<int>{id('x'), id('y')});
    TokenRequest const d = eval::encode_request(tok, "  ", "y", 5);
    CHECK(d.context == std::vector<int>{5});
    CHECK(d.continuation == std::vector<int>{id(' '), 258});
    // Python's rstrip(): newlines, tabs and Unicode spaces move too.
    TokenRequest const e = eval::encode_request(tok, "x\n\t", "y", 0);
    CHECK(e.context == std::vector<int>{id('x')});
    CHECK(e.continuation == std::vector<int>{id('\n'), id('\t'), id('y')});
    CHECK(eval::python_rstrip_length("ab \xc2\xa0\xe2\x80\x89\xe3\x80\x80\x1f") == 2);
    CHECK(eval::python_rstrip_length("ab\xc3\xa9") == 4);  // é is not whitespace
    CHECK(eval::python_rstrip_length("\xe2\x80\x8b") == 3);  // U+200B (zero width) is not either
    CHECK(eval::python_rstrip_length("   ") == 0);
    // A continuation swallowed by the context's last token has nothing to score.
    CHECK_THROWS_AS(eval::encode_request(tok, "ab", "c", 0), UsageError);
  }

  TEST_CASE("zero-shot documents: lm-eval 0.4 prompts of each task") {
    using eval::find_zeroshot_task;
    auto doc = [](char const* task, char const* json) {
      return eval::make_zeroshot_doc(find_zeroshot_task(task), nlohmann::json::parse(json), "test");
    };
    auto const piqa = doc("piqa", R"({"query": "Question: q?\n", "choices": ["a b", "c\u00e9"], "gold": 1})");
    REQUIRE(piqa.choices.size() == 2);
    CHECK(piqa.choices[0].context == "Question: q?\nAnswer:");
    CHECK(piqa.choices[1].continuation == " c\xc3\xa9");
    CHECK(piqa.norm_length == std::vector<double>{3, 2});  // code points, as Python's len()
    CHECK(piqa.gold == 1);
    auto const arc = doc("arc_challenge", R"({"query": "Question: q?", "choices": ["x", "y", "z", "w"], "gold": 3})");
    CHECK(arc.choices[2].context == "Question: q?\nAnswer:");
    CHECK(arc.choices[2].continuation == " z");
    auto const wg = doc("winogrande", R"({"context_options": ["A so A", "A so B"], "continuation": "won.", "gold": 0})");
    CHECK(wg.choices[1].context == "A so B");
    CHECK(wg.choices[1].continuation == " won.");
    CHECK(wg.norm_length.empty());
    auto const la = doc("lambada", R"({"context": "the end of the", "continuation": "story"})");
    REQUIRE(la.choices.size() == 1);
    CHECK(la.choices[0].continuation == " story");
    CHECK_THROWS_WITH_AS(find_zeroshot_task("hellaswag"), doctest::Contains("not available"), UsageError);
    CHECK_THROWS_WITH_AS(find_zeroshot_task("mmlu"), doctest::Contains("unknown task 'mmlu'"), UsageError);
  }

  TEST_CASE("zero-shot files: an ill-formed line is an error naming the file and line") {
    test::TempDir dir("zeroshot");
    auto const& task = eval::find_zeroshot_task("arc_easy");
    std::string const good = R"({"query": "Question: q", "choices": ["a", "b"], "gold": 0})";
    auto fails = [&](std::string const& third_line, char const* what) {
      write_text(dir / "t.jsonl", good + "\n" + good + "\n" + third_line + "\n");
      CAPTURE(third_line);
      CHECK_THROWS_WITH_AS(eval::load_zeroshot_docs(task, dir / "t.jsonl"),
                           doctest::Contains(((dir / "t.jsonl").string() + "' line 3").c_str()), FormatError);
      CHECK_THROWS_WITH_AS(eval::load_zeroshot_docs(task, dir / "t.jsonl"), doctest::Contains(what),
                           FormatError);
    };
    fails(R"({"query": "Question: q", "choices": ["a", "b"], "gold": 0)", "does not parse");
    fails(R"({"query": "Question: q", "choices": ["a", "b"]})", "field 'gold' is missing");
    fails(R"({"query": "Question: q", "choices": ["a", "b"], "gold": 2})", "gold 2 is not one of the 2 choices");
    fails(R"({"query": "Question: q", "choices": ["a", "b"], "gold": -1})", "gold -1");
    fails(R"({"query": "Question: q", "choices": ["a", 7], "gold": 0})", "choices[1] is number");
    fails(R"({"query": "Question: q", "choices": ["a"], "gold": 0})", "at least 2 strings");
    fails(R"({"query": 3, "choices": ["a", "b"], "gold": 0})", "field 'query' is number");
    fails(R"({"query": "Question: q", "choices": ["a", "b"], "gold": 0.5})", "expected an integer");
    fails(R"([1, 2])", "expected a JSON object");
    fails("{\"query\": \"\xff\", \"choices\": [\"a\", \"b\"], \"gold\": 0}", "does not parse");
    // Blank lines (and CRLF endings) are fine; --limit keeps the first documents.
    write_text(dir / "ok.jsonl", good + "\r\n\n" + good + "\n   \n" + good);
    CHECK(eval::load_zeroshot_docs(task, dir / "ok.jsonl").size() == 3);
    CHECK(eval::load_zeroshot_docs(task, dir / "ok.jsonl", 2).size() == 2);
    write_text(dir / "empty.jsonl", "\n\n");
    CHECK_THROWS_WITH_AS(eval::load_zeroshot_docs(task, dir / "empty.jsonl"), doctest::Contains("no documents"),
                         FormatError);
    CHECK_THROWS_AS(eval::load_zeroshot_docs(task, dir / "missing.jsonl"), IoError);
  }

  TEST_CASE("score_task: acc and acc_norm (first maximum on ties), LAMBADA acc and PPL, standard errors") {
    auto const& arc = eval::find_zeroshot_task("arc_challenge");
    std::vector<eval::ZeroShotDoc> docs(4);
    for (auto& d : docs) d.choices.resize(2);
    docs[0].gold = 0, docs[0].norm_length = {1, 4};  // acc: −2 > −3 → 0 ✓; norm: −2 < −0.75 → 1 ✗
    docs[1].gold = 1, docs[1].norm_length = {2, 2};  // tie in both → 0 wins: ✗ ✗
    docs[2].gold = 1, docs[2].norm_length = {1, 1};  // 1 wins: ✓ ✓
    docs[3].gold = 0, docs[3].norm_length = {3, 1};  // acc: −1 < −0.5 → 1 ✗; norm −0.33 > −0.5 → 0 ✓
    std::vector<eval::Loglikelihood> const lls = {{-2}, {-3}, {-1}, {-1}, {-5}, {-4}, {-1}, {-0.5}};
    eval::TaskScores const s = eval::score_task(arc, docs, lls);
    CHECK(s.n_docs == 4);
    CHECK(s.acc.value == doctest::Approx(0.5));
    // Sample standard deviation of {1,0,1,0} is √(1/3); / √4.
    CHECK(s.acc.se == doctest::Approx(std::sqrt(1.0 / 3.0) / 2));
    REQUIRE(s.acc_norm);
    CHECK(s.acc_norm->value == doctest::Approx(0.5));
    CHECK(s.paper().value == doctest::Approx(0.5));
    CHECK(eval::argmax_first(std::vector<double>{1, 3, 3, 2}) == 1);
    CHECK(eval::argmax_first(std::vector<double>{std::nan(""), -1}) == 1);
    CHECK(std::isnan(eval::mean_with_stderr(std::vector<double>{1.0}).se));
    // LAMBADA: acc = greedy; PPL = exp(−mean log-likelihood), delta-method error.
    auto const& la = eval::find_zeroshot_task("lambada_openai");
    std::vector<eval::ZeroShotDoc> ld(3);
    for (auto& d : ld) d.choices.resize(1);
    std::vector<eval::Loglikelihood> const l3 = {{-1, true}, {-2, false}, {-3, true}};
    eval::TaskScores const t = eval::score_task(la, ld, l3);
    CHECK(t.acc.value == doctest::Approx(2.0 / 3.0));
    REQUIRE(t.ppl);
    CHECK(t.ppl->value == doctest::Approx(std::exp(2.0)));
    CHECK(t.ppl->se == doctest::Approx(std::exp(2.0) * 1.0 / std::sqrt(3.0)));
    CHECK_THROWS_AS(eval::score_task(la, ld, std::vector<eval::Loglikelihood>(2)), ShapeError);
  }

  TEST_CASE("evaluate_zeroshot on stories260K: a tiny task file, every choice against a separate forward") {
    auto const shared = test::shared_dir();
    if (shared.empty()) {
      MESSAGE("skipped: ../shared is absent");
      return;
    }
    io::LlamaCheckpoint ck = io::load_llama_checkpoint(shared / "fixtures/stories260K-f32.gguf");
    REQUIRE(ck.tokenizer);
    tokenizer::Tokenizer const tok(*ck.tokenizer);
    model::LlamaModel const m(model::make_llama_weights(std::move(ck)), 256);
    test::TempDir dir("zeroshot_stories");
    write_text(dir / "piqa.jsonl",
               "{\"query\": \"Question: Lily saw a big dog.\\n\", \"choices\": [\"She was happy.\", \"Tom had a red ball and a hat.\"], \"gold\": 0}\n"
               "{\"query\": \"Question: The sun\\n\", \"choices\": [\"was hot\", \"is blue sky and\"], \"gold\": 1}\n"
               "{\"query\": \"Question: Once upon a time\\n\", \"choices\": [\"there was a girl\", \"cat\"], \"gold\": 1}\n");
    auto const& task = eval::find_zeroshot_task("piqa");
    auto const docs = eval::load_zeroshot_docs(task, dir / "piqa.jsonl");
    auto const r = eval::evaluate_zeroshot(m, tok, task, docs, {.loglikelihood = {.batch_rows = 16}});
    CHECK(r.n_requests == 6);
    // By hand: each choice's tokens after its context from an empty cache, log-softmax in float64.
    auto const reqs = eval::zeroshot_requests(tok, docs, false);
    double acc = 0, acc_norm = 0;
    std::vector<double> hand;
    for (std::size_t d = 0; d < docs.size(); ++d) {
      std::vector<double> ll;
      for (std::size_t c = 0; c < 2; ++c) {
        TokenRequest const& q = reqs[2 * d + c];
        CHECK(q.context == tok.encode(docs[d].choices[c].context, false));
        std::vector<int> seq = q.context;
        seq.insert(seq.end(), q.continuation.begin(), q.continuation.end());
        CHECK(seq == tok.encode(docs[d].choices[c].context + docs[d].choices[c].continuation, false));
        auto cache = m.make_cache();
        model::RowMatrixF const logits = m.forward(seq, cache);
        double sum = 0;
        for (std::size_t k = 0; k < q.continuation.size(); ++k) {
          auto const row = logits.row(Eigen::Index(q.context.size() - 1 + k)).cast<double>();
          sum += row(q.continuation[k]) - row.maxCoeff() - std::log((row.array() - row.maxCoeff()).exp().sum());
        }
        ll.push_back(sum);
        hand.push_back(sum);
      }
      acc += (ll[1] > ll[0]) == (docs[d].gold == 1);
      acc_norm += (ll[1] / docs[d].norm_length[1] > ll[0] / docs[d].norm_length[0]) == (docs[d].gold == 1);
    }
    CHECK(r.scores.acc.value == doctest::Approx(acc / 3));
    REQUIRE(r.scores.acc_norm);
    CHECK(r.scores.acc_norm->value == doctest::Approx(acc_norm / 3));
    // Per choice, in small batches and in one batch.
    for (std::size_t rows : {std::size_t{5}, std::size_t{1024}}) {
      auto const lls = eval::score_requests(m, reqs, {.batch_rows = rows});
      for (std::size_t i = 0; i < reqs.size(); ++i) CHECK(lls[i].logprob == doctest::Approx(hand[i]).epsilon(1e-5));
    }
  }
}
