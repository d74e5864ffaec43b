import { describe, expect, it } from 'vitest';
import { Operators } from '../../../src/commands/veoAdmin/operators.js';

describe('Operators', () => {
  it('GIVEN OPERATOR_IDS and an application owned by a user THEN both are operators, nobody else', async () => {
    const operators = new Operators(['111111111111111111']);
    await operators.load(async () => ({ id: 'app', owner: { id: '222222222222222222' }, team: null }));
    expect(operators.isOperator('111111111111111111')).toBe(true);
    expect(operators.isOperator('222222222222222222')).toBe(true);
    expect(operators.isOperator('333333333333333333')).toBe(false);
  });

  it('GIVEN an application owned by a team THEN its members are operators, not the stand-in owner user', async () => {
    const operators = new Operators([]);
    await operators.load(async () => ({
      owner: { id: '900000000000000000' },
      team: { members: [{ user: { id: '444444444444444444' } }, { user: { id: '555555555555555555' } }] },
    }));
    expect(operators.isOperator('444444444444444444')).toBe(true);
    expect(operators.isOperator('555555555555555555')).toBe(true);
    expect(operators.isOperator('900000000000000000')).toBe(false);
  });

  it('GIVEN Discord failing or answering nonsense THEN OPERATOR_IDS alone count', async () => {
    const operators = new Operators(['111111111111111111']);
    await operators.load(() => Promise.reject(new Error('503')));
    await operators.load(async () => ({ owner: 'not an object' }));
    expect(operators.isOperator('111111111111111111')).toBe(true);
    expect(operators.isOperator('not an object')).toBe(false);
  });
});
