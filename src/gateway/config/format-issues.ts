import type { ConfigIssue } from './types.js';

/**
 * One line per issue, in the `file:line:column: message` shape editors and CI annotators recognise for syntax
 * errors, and `file: json.path: message` for everything else (a JSON path finds the spot faster than a line
 * number once a config is generated or templated).
 */
export function formatIssue(issue: ConfigIssue): string {
  if (issue.line !== undefined) return `${issue.file}:${issue.line}:${issue.column ?? 1}: ${issue.message}`;
  if (issue.path !== '') return `${issue.file}: ${issue.path}: ${issue.message}`;
  return `${issue.file}: ${issue.message}`;
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map(formatIssue).join('\n');
}
