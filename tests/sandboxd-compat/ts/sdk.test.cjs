// The official TypeScript SDK (npm @daytonaio/sdk 0.218.0) against a real sandboxd, configured
// ONLY with apiUrl and apiKey: the seed-003 lifecycle example, the process examples, and the
// seed-003 fs and git snippets (git against file:// remotes inside the sandbox), all through
// daytona.create(). Run by `cargo xtask sandboxd-compat` with `node --test`.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const {
  Daytona,
  DaytonaError,
  DaytonaNotFoundError,
  DaytonaProcessExecutionTimeoutError,
} = require('@daytonaio/sdk')

const apiUrl = process.env.SANDBOXD_API_URL
const apiKey = process.env.SANDBOXD_API_KEY_FOR_TESTS
const image = process.env.SANDBOXD_TEST_IMAGE || 'debian:12.9'

function daytona() {
  return new Daytona({ apiUrl, apiKey })
}

/** Runs `body(sandbox)` on a fresh default sandbox and deletes it whatever happens. */
async function withSandbox(params, body) {
  const d = daytona()
  const sandbox = await d.create(params)
  try {
    await body(sandbox, d)
  } finally {
    await d.delete(sandbox).catch(() => {})
  }
}

test('seed-003 lifecycle: create with env, auto-stop and resources; start; stop; delete', async () => {
  const d = daytona()
  const started = Date.now()
  const sandbox = await d.create({
    image,
    envVars: { DEBUG: 'true' },
    autoStopInterval: 15,
    resources: { cpu: 2, memory: 4 },
  })
  // No poll interval hidden in create: sandboxd answers `started` at once.
  assert.ok(Date.now() - started < 30_000)
  assert.equal(sandbox.state, 'started')
  assert.equal(sandbox.cpu, 2)
  assert.equal(sandbox.memory, 4)
  assert.equal(sandbox.autoStopInterval, 15)
  assert.equal(sandbox.env.DEBUG, 'true')
  assert.equal((await sandbox.process.executeCommand('echo $DEBUG')).result, 'true\n')
  await d.start(sandbox)
  assert.equal(sandbox.state, 'started')
  await sandbox.process.executeCommand('echo kept > kept.txt')
  await d.stop(sandbox)
  assert.equal(sandbox.state, 'stopped')
  await d.start(sandbox)
  assert.equal(sandbox.state, 'started')
  assert.equal((await sandbox.process.executeCommand('cat kept.txt')).result, 'kept\n')
  await d.delete(sandbox)
  await assert.rejects(d.get(sandbox.id), DaytonaNotFoundError)
})

test('seed-003 sandbox calls: get, refreshData, setAutostopInterval, resize, home/work dir, labels, list', async () => {
  await withSandbox({ image }, async (created, d) => {
    const sandbox = await d.get(created.id)
    await sandbox.refreshData()
    assert.equal(sandbox.state, 'started')
    await sandbox.setAutostopInterval(60)
    await sandbox.refreshData()
    assert.equal(sandbox.autoStopInterval, 60)
    await sandbox.resize({ cpu: 1, memory: 2 })
    assert.equal(sandbox.cpu, 1)
    assert.equal(sandbox.memory, 2)
    assert.equal(await sandbox.getUserHomeDir(), '/home/daytona')
    assert.equal(await sandbox.getWorkDir(), '/home/daytona')
    const labels = await sandbox.setLabels({ team: 'ts x' })
    assert.equal(labels.team, 'ts x')
    const found = []
    for await (const s of d.list({ labels: { team: 'ts x' } })) found.push(s.id)
    assert.deepEqual(found, [sandbox.id])
    await sandbox.stop()
    assert.equal(sandbox.state, 'stopped')
    await sandbox.start()
    assert.equal(sandbox.state, 'started')
  })
})

test('process examples: executeCommand, codeRun, sessions, log streaming, PTY, interpreter', async () => {
  await withSandbox(undefined, async (sandbox) => {
    const p = sandbox.process
    const hello = await p.executeCommand('echo "Hello"')
    assert.equal(hello.exitCode, 0)
    assert.equal(hello.artifacts.stdout, 'Hello\n')
    await sandbox.fs.createFolder('workspace/src', '755')
    const ls = await p.executeCommand('pwd', 'workspace/src')
    assert.equal(ls.result.trim(), '/home/daytona/workspace/src')
    const env = await p.executeCommand('echo $GREETING', undefined, { GREETING: 'hi' })
    assert.equal(env.result, 'hi\n')
    await assert.rejects(
      p.executeCommand('sleep 10', undefined, undefined, 1),
      DaytonaProcessExecutionTimeoutError,
    )
    const sum = await p.codeRun('print(f"Sum: {10 + 20}")')
    assert.equal(sum.exitCode, 0)
    assert.equal(sum.result.trim(), 'Sum: 30')
    const chart = await p.codeRun(
      'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.title("Line Chart")\nplt.show()',
    )
    assert.equal(chart.artifacts.charts.length, 1)
    assert.equal(chart.artifacts.charts[0].type, 'line')
    assert.equal(chart.artifacts.charts[0].title, 'Line Chart')

    await p.createSession('my-session')
    await p.executeSessionCommand('my-session', { command: 'cd /tmp' })
    const pwd = await p.executeSessionCommand('my-session', { command: 'pwd' })
    assert.equal(pwd.exitCode, 0)
    assert.equal(pwd.stdout.trim(), '/tmp')
    const cmd = await p.executeSessionCommand('my-session', {
      command: 'echo out; sleep 0.2; echo err >&2',
      runAsync: true,
    })
    let out = ''
    let err = ''
    await p.getSessionCommandLogs('my-session', cmd.cmdId, (s) => (out += s), (s) => (err += s))
    assert.equal(out, 'out\n')
    assert.equal(err, 'err\n')
    const logs = await p.getSessionCommandLogs('my-session', cmd.cmdId)
    assert.equal(logs.stdout, 'out\n')
    const session = await p.getSession('my-session')
    assert.equal(session.commands.length, 3)
    await p.deleteSession('my-session')

    const chunks = []
    const pty = await p.createPty({ id: 'term', onData: (data) => chunks.push(Buffer.from(data)) })
    await pty.waitForConnection()
    await pty.sendInput('echo pty-$((40+2)); exit 0\n')
    const result = await pty.wait()
    assert.equal(result.exitCode, 0)
    assert.match(Buffer.concat(chunks).toString(), /pty-42/)

    const ci = sandbox.codeInterpreter
    const ctx = await ci.createContext()
    await ci.runCode('x = 100', { context: ctx })
    const printed = []
    const r = await ci.runCode('print(x + 1)', { context: ctx, onStdout: (m) => printed.push(m.output) })
    assert.equal(r.error, undefined)
    assert.equal(printed.join('').trim(), '101')
    await ci.deleteContext(ctx)
  })
})

test('seed-003 fs snippet through create()', async () => {
  await withSandbox(undefined, async (sandbox) => {
    const fs = sandbox.fs
    await fs.createFolder('workspace/data', '755')
    await fs.uploadFile(Buffer.from('content'), 'tmp/file.txt')
    assert.equal((await fs.downloadFile('tmp/file.txt')).toString(), 'content')
    await fs.uploadFile(Buffer.from('# TODO: one\nprint(1)\n'), 'workspace/src/file1.py')
    await fs.uploadFile(Buffer.from('old = 1\n'), 'workspace/src/file2.py')
    const files = await fs.listFiles('workspace')
    assert.deepEqual(files.map((f) => f.name).sort(), ['data', 'src'])
    const matches = await fs.findFiles('workspace/src', 'TODO:')
    assert.equal(matches.length, 1)
    assert.match(matches[0].file, /file1\.py$/)
    const replaced = await fs.replaceInFiles(['workspace/src/file2.py'], 'old', 'new')
    assert.equal(replaced[0].success, true)
    assert.equal((await fs.downloadFile('workspace/src/file2.py')).toString(), 'new = 1\n')
    const found = await fs.searchFiles('workspace', '*.py')
    assert.equal(found.files.length, 2)
    await fs.moveFiles('tmp/file.txt', 'tmp/new_name.txt')
    await fs.uploadFile(Buffer.from('#!/bin/sh\necho run\n'), 'script.sh')
    await fs.setFilePermissions('script.sh', { mode: '755' })
    assert.equal((await sandbox.process.executeCommand('./script.sh')).result, 'run\n')
    const info = await fs.getFileDetails('tmp/new_name.txt')
    assert.equal(info.size, 7)
    await fs.deleteFile('tmp/new_name.txt')
    await assert.rejects(fs.getFileDetails('tmp/new_name.txt'), DaytonaError)
  })
})

test('seed-003 git snippet through create(), against file:// remotes inside the sandbox', async () => {
  await withSandbox(undefined, async (sandbox) => {
    // The "remote": a bare repository with a develop branch, inside the sandbox.
    const setup = await sandbox.process.executeCommand(
      [
        'set -e',
        'git init -q --bare -b main /tmp/remote.git',
        'git init -q -b main /tmp/seed && cd /tmp/seed',
        'echo hello > README.md && git add README.md',
        'git -c user.name=Seed -c user.email=seed@example.com commit -q -m init',
        'git branch develop && git remote add origin /tmp/remote.git',
        'git push -q origin main develop',
      ].join('\n'),
    )
    assert.equal(setup.exitCode, 0, setup.result)
    const git = sandbox.git
    await git.clone('file:///tmp/remote.git', 'workspace/repo', 'develop')
    await git.clone('file:///tmp/remote.git', 'workspace/private', undefined, undefined, 'user', 'token')
    await sandbox.fs.uploadFile(Buffer.from('docs\n'), 'workspace/repo/file.txt')
    await git.add('workspace/repo', ['file.txt'])
    const commit = await git.commit('workspace/repo', 'Update docs', 'John', 'john@example.com')
    assert.match(commit.sha, /^[0-9a-f]{40}$/)
    await git.push('workspace/repo', 'user', 'token')
    await git.pull('workspace/private', undefined, undefined, 'develop')
    const pulled = await sandbox.fs.downloadFile('workspace/private/file.txt')
    assert.equal(pulled.toString(), 'docs\n')
    const status = await git.status('workspace/repo')
    assert.equal(status.currentBranch, 'develop')
    assert.equal(status.ahead, 0)
    assert.equal(status.behind, 0)
    assert.equal(status.branchPublished, true)
    await git.createBranch('workspace/repo', 'feature')
    await git.checkoutBranch('workspace/repo', 'feature')
    assert.equal((await git.status('workspace/repo')).currentBranch, 'feature')
    // Creating a branch also checks it out (the Daytona daemon's behaviour, kept).
    await git.createBranch('workspace/repo', 'old-feature')
    assert.equal((await git.status('workspace/repo')).currentBranch, 'old-feature')
    await git.checkoutBranch('workspace/repo', 'feature')
    await git.deleteBranch('workspace/repo', 'old-feature')
    const branches = await git.branches('workspace/repo')
    assert.deepEqual([...branches.branches].sort(), ['develop', 'feature'])
  })
})

test('errors map to the SDK exceptions', async () => {
  const d = daytona()
  await assert.rejects(d.get('no-such-sandbox'), DaytonaNotFoundError)
  await assert.rejects(d.create({ image, resources: { cpu: 10_000 } }), (err) => {
    assert.ok(err instanceof DaytonaError)
    assert.match(String(err.message), /cpu/)
    return true
  })
})
