-- SHA-256 (hex) of the JSON text an agent wrote a completed step's output from. A step
-- result carries the output itself; the orchestrator plans from it without reading the
-- task back, and the statement writing that plan checks this digest instead of comparing
-- the output (often a document, stored out of line) with the row's.
ALTER TABLE "steps" ADD COLUMN "output_sha256" TEXT;
