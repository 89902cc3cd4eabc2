package dev.changepipe.benchmarks;

/** Log lines of a realistic size (about 200 bytes) for the oplog benchmarks. */
final class OplogLines {

    private OplogLines() {
    }

    static String django(long i) {
        return (1700000000 + i / 100) + " SAVE [{\"model\": \"polls.question\", \"pk\": " + (i % 100_000)
                + ", \"fields\": {\"uuid\": \"6f0b2c1e-4f5a-4e8e-9d3b-" + String.format("%012d", i)
                + "\", \"question_text\": \"What is question " + i + "?\", \"pub_date\": \"2024-03-26T10:51:03Z\","
                + " \"score\": 12.5, \"votes\": " + i + "}}]\n";
    }

    static String jsonLine(long i) {
        return "{\"op\": \"update\", \"table\": \"polls.question\", \"key\": {\"id\": " + (i % 100_000)
                + "}, \"values\": {\"id\": " + (i % 100_000) + ", \"uuid\": \"6f0b2c1e-4f5a-4e8e-9d3b-"
                + String.format("%012d", i) + "\", \"question_text\": \"What is question " + i
                + "?\", \"score\": 12.5, \"votes\": " + i + "}, \"ts\": " + (1700000000 + i / 100) + "}\n";
    }
}
