/**
 * The quick start: the example backend on 127.0.0.1:8000 and a gateway on examples/krakend.json (port 8080),
 * until Ctrl-C. `npm run example`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createExampleBackend } from './backend.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const backend = createExampleBackend();
backend.listen(8000, '127.0.0.1', () => {
  const gateway = spawn(process.execPath, ['dist/src/cli/krakend.js', 'run', '-c', 'examples/krakend.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  setTimeout(() => {
    process.stdout.write(
      [
        '',
        'Example backend: http://127.0.0.1:8000   Gateway: http://127.0.0.1:8080',
        'Try:',
        '  curl -i http://127.0.0.1:8080/users/1            # filtered with allow',
        '  curl -i http://127.0.0.1:8080/dashboard/1        # three backends merged; a big integer kept exact',
        '  curl -i http://127.0.0.1:8080/partial            # a late backend: partial, X-Krakend-Completed: false',
        '  curl -i http://127.0.0.1:8080/posts              # json-collection',
        '  curl -i http://127.0.0.1:8080/passthrough/text   # no-op',
        '  curl -i http://127.0.0.1:8080/__health',
        'Ctrl-C stops both.',
        '',
      ].join('\n'),
    );
  }, 800);
  const stop = () => {
    gateway.kill('SIGTERM');
    backend.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  gateway.once('exit', (code) => {
    backend.close();
    process.exitCode = code ?? 0;
  });
});
