// Validates AsyncAPI documents with the AsyncAPI Initiative's own parser (@asyncapi/parser):
// prints every diagnostic, and exits 1 if any document has an error.
// Usage: node validate.mjs a.json b.yaml ...
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
  for (const d of diagnostics) {
    const level = ['error', 'warning', 'info', 'hint'][d.severity] ?? d.severity;
    // "3.1.0 exists" is advice, not a finding about the document.
    if (d.code !== 'asyncapi-latest-version') {
      console.log(`${file}: ${level}: ${d.code}: ${d.message} at /${d.path.join('/')}`);
    }
  }
  if (document === undefined || diagnostics.some((d) => d.severity === 0)) {
    failed = true;
  } else {
    const counts = [document.allChannels().length, document.allOperations().length, document.allMessages().length];
    console.log(`${file}: valid: ${counts[0]} channels, ${counts[1]} operations, ${counts[2]} messages`);
  }
}
process.exit(failed ? 1 : 0);
