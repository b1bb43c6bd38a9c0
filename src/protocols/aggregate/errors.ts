/**
 * Mapping between ABORT reasons and the typed errors each party raises.
 * @internal
 * @module
 */
import {
  DataportError,
  InputError,
  TermsRefusedError,
  TimeoutError,
  TransportClosedError,
  UnexpectedMessageError,
} from '../../errors.js';
import { AbortReason } from './messages.js';

/** The typed error a party raises when it receives ABORT with `reason`. */
export function errorForAbort(reason: number): DataportError {
  switch (reason) {
    case AbortReason.PROVIDER_LOST:
      return new TransportClosedError('aggregation round aborted: a provider left before contributing and no quorum remains');
    case AbortReason.TIMEOUT:
      return new TimeoutError('aggregation round aborted: providers did not contribute in time');
    case AbortReason.QUERY_REFUSED:
      return new TermsRefusedError('aggregation round aborted: the query was refused');
    case AbortReason.QUORUM_REFUSED:
      return new TermsRefusedError("aggregation round aborted: a provider refused the query: its quorum is below that provider's minimum");
    case AbortReason.INPUT_ERROR:
      return new InputError('aggregation round aborted: a provider could not use its input');
    case AbortReason.ANALYST_LOST:
      return new TransportClosedError('aggregation round aborted: the analyst disconnected');
    default:
      return new UnexpectedMessageError('aggregation round aborted: protocol error');
  }
}
