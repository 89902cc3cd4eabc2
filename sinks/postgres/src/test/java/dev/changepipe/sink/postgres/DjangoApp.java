package dev.changepipe.sink.postgres;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

/**
 * A simulated Django "polls" app for tests: performs random saves and deletes, and for each writes a
 * line of the operation log (the seed article's format) and the SQL that makes the same change in the
 * app's own database. Includes foreign keys, cascaded deletes (children first, as Django's collector
 * does), bulk lines with several objects, unicode and quotes, and the seed pattern: a question deleted,
 * then saved again under a new pk with the same unique UUID.
 */
final class DjangoApp {

    static final String SCHEMA = "CREATE TABLE polls_question (id bigint PRIMARY KEY, question_text varchar(200) NOT NULL,"
            + " pub_date timestamptz NOT NULL, uuid uuid NOT NULL UNIQUE, score numeric(10,2), meta jsonb, tags text[]);"
            + " CREATE TABLE polls_choice (id bigint PRIMARY KEY, question_id bigint NOT NULL REFERENCES polls_question (id)"
            + " DEFERRABLE INITIALLY DEFERRED, choice_text varchar(200) NOT NULL, votes integer NOT NULL);";

    /** Compares the app's state, never the sink's own columns. */
    static final String DUMP = "SELECT id, question_text, pub_date, uuid, score, meta, tags FROM polls_question ORDER BY id;"
            + " SELECT id, question_id, choice_text, votes FROM polls_choice ORDER BY id;";

    private static final String[] WORDS = {"Why", "naïve", "日本語", "O'Brien", "say \"hi\"", "back\\slash", "Zoë",
        "emoji 🎉", "tab\there", "semi;colon", "-- not a comment", "'; DROP TABLE polls_choice; --"};

    private final Random random;
    private final Map<Long, Map<String, Object>> questions = new LinkedHashMap<>();
    private final Map<Long, Map<String, Object>> choices = new LinkedHashMap<>();
    private final StringBuilder log = new StringBuilder();
    private final List<String> sql = new ArrayList<>();
    private long nextQuestion = 1;
    private long nextChoice = 1;
    private long time = 1_553_597_463L;
    private int lines;

    DjangoApp(long seed) {
        this.random = new Random(seed);
    }

    /** Performs about {@code steps} random operations. */
    DjangoApp run(int steps) {
        for (int i = 0; i < steps; i++) {
            int dice = random.nextInt(100);
            if (questions.isEmpty() || dice < 20) {
                createQuestion(UUID.randomUUID().toString());
            } else if (dice < 35) {
                updateQuestion(pick(questions));
            } else if (dice < 60) {
                createChoices(pick(questions), 1 + random.nextInt(3));
            } else if (dice < 75 && !choices.isEmpty()) {
                updateChoice(pick(choices));
            } else if (dice < 82 && !choices.isEmpty()) {
                deleteChoice(pick(choices));
            } else if (dice < 90) {
                deleteQuestion(pick(questions));
            } else {
                // The seed pattern: deleted, then saved again under a new pk with the same UUID.
                long old = pick(questions);
                String uuid = (String) questions.get(old).get("uuid");
                deleteQuestion(old);
                createQuestion(uuid);
            }
        }
        return this;
    }

    String log() {
        return log.toString();
    }

    int lines() {
        return lines;
    }

    int rows() {
        return questions.size() + choices.size();
    }

    /** The SQL that makes the same changes, in statements of at most {@code maxChars} characters. */
    List<String> sqlBatches(int maxChars) {
        List<String> batches = new ArrayList<>();
        StringBuilder b = new StringBuilder();
        for (String s : sql) {
            if (b.length() + s.length() > maxChars && b.length() > 0) {
                batches.add(b.toString());
                b.setLength(0);
            }
            b.append(s).append(";\n");
        }
        if (b.length() > 0) {
            batches.add(b.toString());
        }
        return batches;
    }

    private void createQuestion(String uuid) {
        long id = nextQuestion++;
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("question_text", text());
        q.put("pub_date", "2019-03-" + (10 + random.nextInt(18)) + "T10:" + (10 + random.nextInt(50)) + ":03."
                + (100 + random.nextInt(900)) + "Z");
        q.put("uuid", uuid);
        q.put("score", random.nextInt(100000) / 100 + "." + (10 + random.nextInt(90)));
        q.put("meta", Map.of("lang", text(), "n", (long) random.nextInt(10)));
        q.put("tags", List.of(text(), text()));
        questions.put(id, q);
        line("SAVE", List.of(object("polls.question", id, q)));
        sql.add("INSERT INTO polls_question (id, question_text, pub_date, uuid, score, meta, tags) VALUES (" + id + ", "
                + literal(q.get("question_text")) + ", " + literal(q.get("pub_date")) + ", " + literal(uuid) + ", "
                + q.get("score") + ", " + literal(JsonText.write(q.get("meta"))) + "::jsonb, " + array(q.get("tags")) + ")");
    }

    private void updateQuestion(long id) {
        Map<String, Object> q = questions.get(id);
        q.put("question_text", text() + " " + text());
        q.put("tags", random.nextBoolean() ? List.of() : List.of(text()));
        line("SAVE", List.of(object("polls.question", id, q)));
        sql.add("UPDATE polls_question SET question_text = " + literal(q.get("question_text")) + ", tags = "
                + array(q.get("tags")) + " WHERE id = " + id);
    }

    private void createChoices(long question, int count) {
        List<String> objects = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long id = nextChoice++;
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("question", question);
            c.put("choice_text", text());
            c.put("votes", 0L);
            choices.put(id, c);
            objects.add(object("polls.choice", id, c));
            sql.add("INSERT INTO polls_choice (id, question_id, choice_text, votes) VALUES (" + id + ", " + question + ", "
                    + literal(c.get("choice_text")) + ", 0)");
        }
        line("SAVE", objects); // a bulk line
    }

    private void updateChoice(long id) {
        Map<String, Object> c = choices.get(id);
        c.put("votes", (Long) c.get("votes") + 1);
        line("SAVE", List.of(object("polls.choice", id, c)));
        sql.add("UPDATE polls_choice SET votes = " + c.get("votes") + " WHERE id = " + id);
    }

    private void deleteChoice(long id) {
        Map<String, Object> c = choices.remove(id);
        line("DELETE", List.of(object("polls.choice", id, c)));
        sql.add("DELETE FROM polls_choice WHERE id = " + id);
    }

    private void deleteQuestion(long id) {
        List<Long> children = new ArrayList<>();
        choices.forEach((cid, c) -> {
            if (c.get("question").equals(id)) {
                children.add(cid);
            }
        });
        children.forEach(this::deleteChoice);
        Map<String, Object> q = questions.remove(id);
        line("DELETE", List.of(object("polls.question", id, q)));
        sql.add("DELETE FROM polls_question WHERE id = " + id);
    }

    private void line(String op, List<String> objects) {
        time += random.nextInt(3);
        log.append(time).append(' ').append(op).append(" [").append(String.join(", ", objects)).append("]\n");
        lines++;
    }

    private static String object(String model, long pk, Map<String, Object> fields) {
        return "{\"model\": \"" + model + "\", \"pk\": " + pk + ", \"fields\": " + JsonText.write(fields) + "}";
    }

    private String text() {
        return WORDS[random.nextInt(WORDS.length)] + " " + random.nextInt(1000);
    }

    private <V> long pick(Map<Long, V> map) {
        int n = random.nextInt(map.size());
        for (Long k : map.keySet()) {
            if (n-- == 0) {
                return k;
            }
        }
        throw new IllegalStateException();
    }

    private static String literal(Object value) {
        return "'" + value.toString().replace("'", "''") + "'";
    }

    private static String array(Object list) {
        List<?> items = (List<?>) list;
        if (items.isEmpty()) {
            return "'{}'::text[]";
        }
        List<String> literals = new ArrayList<>();
        items.forEach(i -> literals.add(literal(i)));
        return "ARRAY[" + String.join(", ", literals) + "]::text[]";
    }
}
